// The standard process_* metrics, read from /proc when scraped (Linux).
#pragma once

#include <string>

#include "metrics/exposition.hpp"

namespace scopegate::metrics {

struct ProcessSample {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
  bool ok = false;  // /proc could be read
};

ProcessSample sample_process();
void render_process(const ProcessSample& p, Format format, std::string& out);

}  // namespace scopegate::metrics
