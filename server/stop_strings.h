// Stop strings (OpenAI's `stop`) over streamed text. The engine stops on
// token ids; a stop string can span tokens and events, so the server holds
// back any tail of the text that could still begin a stop string, and cuts
// the text at the first one that completes (the stop string itself is not
// returned, as OpenAI does).
#ifndef MATSPEC_SERVER_STOP_STRINGS_H_
#define MATSPEC_SERVER_STOP_STRINGS_H_

#include <string>
#include <string_view>
#include <vector>

namespace matspec::server {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds streamed text; returns what may be shown now. Once a stop string
  // completes, stopped() is true and everything after it is dropped.
  std::string Push(std::string_view text);
  // At the end of generation: the text held back (none after a stop).
  std::string Flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // received, not yet shown: may begin a stop string
  bool stopped_ = false;
};

}  // namespace matspec::server

#endif  // MATSPEC_SERVER_STOP_STRINGS_H_
