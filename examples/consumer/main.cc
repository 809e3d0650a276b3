// Embedding matspec as a decoding backend: load once, submit requests, stream
// one, cancel another, print both results as the CLI's --json would.
// Built against an installed matspec by examples/consumer/CMakeLists.txt
// (find_package) and by tests/package_consumer_test.sh (pkg-config).
// Usage: matspec_consumer MODEL_DIR   (e.g. models/matlm-tiny)
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "matspec/json.h"
#include "matspec/matspec.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " MODEL_DIR\n";
    return 2;
  }
  matspec::LoadOptions load;
  load.model_dir = argv[1];
  load.num_threads = 1;
  absl::StatusOr<std::unique_ptr<matspec::Engine>> engine = matspec::Engine::Load(load);
  if (!engine.ok()) {
    std::cerr << "load: " << engine.status().message() << "\n";
    return 1;
  }

  matspec::GenerationOptions options;
  options.max_new_tokens = 32;
  options.stop_at_eos = false;
  // Two requests at once: the first streams to the end, the second is cancelled.
  absl::StatusOr<std::shared_ptr<matspec::Request>> story = (*engine)->Submit("Once upon a time", options);
  options.max_new_tokens = 800;
  absl::StatusOr<std::shared_ptr<matspec::Request>> cancelled =
      (*engine)->Submit("In the beginning", options);
  if (!story.ok() || !cancelled.ok()) {
    std::cerr << "submit: " << (story.ok() ? cancelled.status() : story.status()).message() << "\n";
    return 1;
  }
  (*cancelled)->Cancel();

  while (std::optional<matspec::RequestEvent> event = (*story)->Next())
    std::cout << event->text << std::flush;
  std::cout << "\n";
  absl::StatusOr<matspec::GenerationResult> a = (*story)->Wait();
  absl::StatusOr<matspec::GenerationResult> b = (*cancelled)->Wait();
  if (!a.ok() || !b.ok()) {
    std::cerr << "generate: " << (a.ok() ? b.status() : a.status()).message() << "\n";
    return 1;
  }
  std::cout << matspec::GenerationResultJson(*a) << "\n" << matspec::GenerationResultJson(*b) << "\n";
  // What the test checks: the full request ran to its length, the other was cancelled.
  const bool ok =
      a->stats.stop_reason == "length" && a->tokens.size() == 32 && b->stats.stop_reason == "cancelled";
  std::cerr << (ok ? "matspec_consumer: OK\n" : "matspec_consumer: unexpected stop reasons\n");
  return ok ? 0 : 1;
}
