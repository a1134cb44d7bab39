#include "metrics/process.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace scopegate::metrics {

namespace {

// Seconds since the epoch when the machine booted (/proc/stat's btime), read once.
double boot_time() {
  static const double value = [] {
    std::ifstream in("/proc/stat");
    std::string key;
    double v = 0;
    while (in >> key) {
      if (key == "btime") {
        in >> v;
        break;
      }
      in.ignore(1 << 20, '\n');
    }
    return v;
  }();
  return value;
}

void family(std::string& out, Format format, std::string_view name, std::string_view type, std::string_view help,
            double value) {
  bool om = format == Format::openmetrics_1_0;
  std::string_view base = name;
  if (om && type == "counter" && base.ends_with("_total")) base.remove_suffix(6);
  out += "# HELP ";
  out += base;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += base;
  out += ' ';
  out += type;
  out += '\n';
  if (om && base.ends_with("_seconds")) {
    out += "# UNIT ";
    out += base;
    out += " seconds\n";
  } else if (om && base.ends_with("_bytes")) {
    out += "# UNIT ";
    out += base;
    out += " bytes\n";
  }
  out += name;
  out += ' ';
  append_number(out, value);
  out += '\n';
}

}  // namespace

ProcessSample sample_process() {
  ProcessSample p;
  // /proc/self/stat: fields after the command (which may hold spaces, so read past its last ')').
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return p;
  auto close = line.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream fields(line.substr(close + 2));
  // Field 3 (state) is the first here; utime and stime are 14 and 15, starttime 22, vsize 23, rss 24.
  std::string field;
  double utime = 0, stime = 0, starttime = 0, vsize = 0, rss = 0;
  for (int n = 3; n <= 24 && fields >> field; ++n) {
    if (n == 14) utime = std::stod(field);
    else if (n == 15) stime = std::stod(field);
    else if (n == 22) starttime = std::stod(field);
    else if (n == 23) vsize = std::stod(field);
    else if (n == 24) rss = std::stod(field);
  }
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  p.cpu_seconds = (utime + stime) / ticks;
  p.start_time_seconds = boot_time() + starttime / ticks;
  p.virtual_bytes = vsize;
  p.resident_bytes = rss * static_cast<double>(sysconf(_SC_PAGESIZE));
  if (DIR* d = opendir("/proc/self/fd")) {
    double n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    p.open_fds = n - 1;  // not the descriptor opendir itself holds
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) p.max_fds = static_cast<double>(limit.rlim_cur);
  p.ok = true;
  return p;
}

void render_process(const ProcessSample& p, Format format, std::string& out) {
  if (!p.ok) return;
  family(out, format, "process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.",
         p.cpu_seconds);
  family(out, format, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.resident_bytes);
  family(out, format, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtual_bytes);
  family(out, format, "process_open_fds", "gauge", "Open file descriptors.", p.open_fds);
  family(out, format, "process_max_fds", "gauge", "The most file descriptors the process may open.", p.max_fds);
  family(out, format, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.",
         p.start_time_seconds);
}

}  // namespace scopegate::metrics
