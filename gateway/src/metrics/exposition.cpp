#include "metrics/exposition.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "metrics/process.hpp"

namespace scopegate::metrics {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// The quality of one media range of an Accept header (1 when it has no q parameter).
double quality(std::string_view params) {
  while (!params.empty()) {
    auto semi = params.find(';');
    auto param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (param.size() > 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
      double q = 0;
      auto text = param.substr(2);
      if (std::from_chars(text.data(), text.data() + text.size(), q).ec != std::errc{}) return 0;
      return q;
    }
  }
  return 1;
}

// A bucket bound, spelled the same in both formats: a decimal with at least one fractional digit
// ("1.0", "0.0001"). OpenMetrics wants that form; Prometheus stores `le` as written, so one spelling
// keeps one series whichever format a scraper negotiates.
void append_bound(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  std::string_view s(buf, static_cast<std::size_t>(end - buf));
  out += s;
  if (s.find('.') == std::string_view::npos) out += ".0";
}

struct Series {
  std::string labels;  // `name="value",...` without braces
  Key key;
  const void* cell;
  std::int64_t created_ms;
};

void append_labels(std::string& out, std::string_view labels, std::string_view extra = {}) {
  if (labels.empty() && extra.empty()) return;
  out += '{';
  out += labels;
  if (!labels.empty() && !extra.empty()) out += ',';
  out += extra;
  out += '}';
}

void append_created(std::string& out, std::string_view base, std::string_view labels, std::int64_t ms) {
  if (ms <= 0) return;
  out += base;
  out += "_created";
  append_labels(out, labels);
  out += ' ';
  append_number(out, static_cast<double>(ms) / 1000.0);
  out += '\n';
}

void render_family(const Registry& r, std::size_t index, Format format, std::string& out) {
  const FamilyInfo& f = kFamilies[index];
  const bool om = format == Format::openmetrics_1_0;
  std::string name = "scopegate_";
  name += f.id;
  // OpenMetrics names a counter family without its _total suffix; its samples keep it.
  std::string family = name;
  if (om && f.type == Type::counter && family.ends_with("_total")) family.resize(family.size() - 6);
  // And a gauge that only carries labels (build_info) is an info family there.
  bool info_family = om && f.type == Type::gauge && family.ends_with("_info");
  if (info_family) family.resize(family.size() - 5);

  auto names = label_names(f);
  std::vector<Series> series;
  auto label_text = [&](Key key) {
    std::string s;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i) s += ',';
      s += names[i];
      s += "=\"";
      append_escaped(s, r.labels().value(unpack(key, static_cast<int>(i))), true);
      s += '"';
    }
    return s;
  };
  auto family_id = static_cast<Family>(index);
  if (f.type == Type::histogram) {
    r.histograms(family_id)->for_each([&](Key k, const HistogramCell& c, std::int64_t created) {
      if (k == kOtherKey && !names.empty()) {
        std::uint64_t n = 0;
        for (const auto& b : c.counts) n += b.load(std::memory_order_relaxed);
        if (n == 0) return;  // the fallback series of a table that never filled
      }
      series.push_back({label_text(k), k, &c, created});
    });
  } else {
    r.values(family_id)->for_each([&](Key k, const ValueCell& c, std::int64_t created) {
      if (k == kOtherKey && !names.empty() && c.value.load(std::memory_order_relaxed) == 0) return;
      series.push_back({label_text(k), k, &c, created});
    });
  }
  std::sort(series.begin(), series.end(), [](const Series& a, const Series& b) { return a.labels < b.labels; });

  out += "# HELP ";
  out += family;
  out += ' ';
  append_escaped(out, f.help, om);
  out += "\n# TYPE ";
  out += family;
  out += info_family ? " info\n" : f.type == Type::counter ? " counter\n" : f.type == Type::gauge ? " gauge\n" : " histogram\n";
  if (om && name.ends_with("_seconds")) {
    out += "# UNIT ";
    out += family;
    out += " seconds\n";
  }

  for (const auto& s : series) {
    if (f.type != Type::histogram) {
      auto v = static_cast<const ValueCell*>(s.cell)->value.load(std::memory_order_relaxed);
      out += name;
      append_labels(out, s.labels);
      out += ' ';
      append_number(out, f.layout == Layout::nano ? static_cast<double>(v) / 1e9 : static_cast<double>(v));
      out += '\n';
      if (om && f.type == Type::counter) append_created(out, family, s.labels, s.created_ms);
      continue;
    }
    const auto& cell = *static_cast<const HistogramCell*>(s.cell);
    const Buckets& b = r.buckets(family_id);
    std::uint64_t cumulative = 0;
    std::string le;
    for (std::size_t i = 0; i <= b.count; ++i) {
      cumulative += cell.counts[i].load(std::memory_order_relaxed);
      le = "le=\"";
      if (i < b.count) append_bound(le, static_cast<double>(b.bounds[i]) / b.per_unit);
      else le += "+Inf";
      le += '"';
      out += name;
      out += "_bucket";
      append_labels(out, s.labels, le);
      out += ' ';
      append_number(out, static_cast<double>(cumulative));
      out += '\n';
    }
    out += name;
    out += "_sum";
    append_labels(out, s.labels);
    out += ' ';
    append_number(out, static_cast<double>(cell.sum.load(std::memory_order_relaxed)) / b.per_unit);
    out += '\n';
    out += name;
    out += "_count";
    append_labels(out, s.labels);
    out += ' ';
    append_number(out, static_cast<double>(cumulative));
    out += '\n';
    if (om) append_created(out, family, s.labels, s.created_ms);
  }
}

}  // namespace

Format negotiate(std::string_view accept) {
  double openmetrics = 0, text = 0;
  while (!accept.empty()) {
    auto comma = accept.find(',');
    auto range = trim(accept.substr(0, comma));
    accept = comma == std::string_view::npos ? std::string_view{} : accept.substr(comma + 1);
    auto semi = range.find(';');
    auto type = trim(range.substr(0, semi));
    double q = quality(semi == std::string_view::npos ? std::string_view{} : range.substr(semi + 1));
    if (iequals(type, "application/openmetrics-text")) openmetrics = std::max(openmetrics, q);
    else if (iequals(type, "text/plain")) text = std::max(text, q);
  }
  return openmetrics > 0 && openmetrics >= text ? Format::openmetrics_1_0 : Format::text_0_0_4;
}

std::string_view content_type(Format format) {
  return format == Format::openmetrics_1_0 ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                           : "text/plain; version=0.0.4; charset=utf-8";
}

void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '"' && quote) out += "\\\"";
    else out += c;
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[32];
  std::to_chars_result r;
  if (v == std::trunc(v) && std::fabs(v) < 9e15) {
    r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(v));
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v);
  }
  out.append(buf, static_cast<std::size_t>(r.ptr - buf));
}

void render(const Registry& registry, Format format, std::string& out) {
  for (std::size_t i = 0; i < kFamilyCount; ++i) {
    if (!registry.absent(i)) render_family(registry, i, format, out);
  }
  render_process(sample_process(), format, out);
  if (format == Format::openmetrics_1_0) out += "# EOF\n";
}

}  // namespace scopegate::metrics
