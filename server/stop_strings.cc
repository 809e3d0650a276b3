#include "server/stop_strings.h"

#include <algorithm>

namespace matspec::server {

std::string StopStringFilter::Push(std::string_view text) {
  if (stopped_) return "";
  pending_.append(text);
  // The earliest complete stop string ends the text.
  size_t cut = std::string::npos;
  for (const std::string& stop : stops_) cut = std::min(cut, pending_.find(stop));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string shown = pending_.substr(0, cut);
    pending_.clear();
    return shown;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    for (size_t n = std::min(stop.size() - 1, pending_.size()); n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, stop, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string shown = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return shown;
}

std::string StopStringFilter::Flush() {
  std::string rest;
  rest.swap(pending_);
  return stopped_ ? "" : rest;
}

}  // namespace matspec::server
