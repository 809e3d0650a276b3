// `matspec serve`: loads the model once and serves the OpenAI API over HTTP
// (server/http_server.h). Its own flags (--host, --port, --max-sequences,
// --max-queue, --api-key, --max-body-bytes, --shutdown-grace,
// --served-model-name) are read here; every other flag is a `generate` flag
// and sets the defaults requests start from (the draft, -n, sampling, context,
// threads). SIGTERM and SIGINT shut the server down cleanly: the handler
// writes a byte to a pipe (async-signal-safe) and a watcher thread calls
// HttpServer::Shutdown; the exit code is then 0.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/commands.h"
#include "server/http_server.h"

namespace matspec::cli {
namespace {

volatile sig_atomic_t shutdown_fd = -1;

void OnShutdownSignal(int) {
  const int saved = errno;
  const int fd = shutdown_fd;
  if (fd >= 0) {
    const char byte = 's';
    [[maybe_unused]] ssize_t n = write(fd, &byte, 1);
  }
  errno = saved;
}

absl::Status ParseInt(const std::string& flag, const std::string& value, int64_t* out) {
  if (!absl::SimpleAtoi(value, out)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": expected an integer, got \"", value, "\""));
  }
  return absl::OkStatus();
}

// Takes the server's own flags out of `args`; leaves the generate flags.
absl::Status TakeServeFlags(std::vector<std::string>* args, server::ServerOptions* options, std::string* model_name) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const FlagArg f = SplitFlag((*args)[i]);
    const std::string& arg = f.flag;
    static const std::vector<std::string> kServeFlags = {"--host",         "--port",           "--max-sequences",
                                                         "--max-queue",    "--api-key",        "--max-body-bytes",
                                                         "--shutdown-grace", "--served-model-name"};
    if (std::find(kServeFlags.begin(), kServeFlags.end(), arg) == kServeFlags.end()) {
      rest.push_back((*args)[i]);
      continue;
    }
    absl::StatusOr<std::string> taken = TakeFlagValue(*args, &i, f);
    if (!taken.ok()) return taken.status();
    const std::string& value = *taken;
    int64_t n = 0;
    if (arg == "--host") {
      options->host = value;
    } else if (arg == "--port") {
      if (absl::Status s = ParseInt(arg, value, &n); !s.ok()) return s;
      if (n < 0 || n > 65535) return absl::InvalidArgumentError(absl::StrCat("--port ", n, " is not in [0, 65535]"));
      options->port = static_cast<int>(n);
    } else if (arg == "--max-sequences") {
      if (absl::Status s = ParseInt(arg, value, &options->max_sequences); !s.ok()) return s;
    } else if (arg == "--max-queue") {
      if (absl::Status s = ParseInt(arg, value, &options->max_queue); !s.ok()) return s;
    } else if (arg == "--api-key") {
      options->api_key = value;
    } else if (arg == "--max-body-bytes") {
      if (absl::Status s = ParseInt(arg, value, &options->max_body_bytes); !s.ok()) return s;
    } else if (arg == "--shutdown-grace") {
      if (!absl::SimpleAtod(value, &options->shutdown_grace_seconds)) {
        return absl::InvalidArgumentError(absl::StrCat("--shutdown-grace: expected seconds, got \"", value, "\""));
      }
    } else if (arg == "--served-model-name") {
      *model_name = value;
    }
  }
  *args = std::move(rest);
  return options->Validate();
}

}  // namespace

void PrintServeUsage(std::ostream& out) {
  out << "usage: matspec serve -m DIR [generate flags: the default draft, -n, sampling, --ctx-size, --threads]\n"
         "                     [--host 127.0.0.1] [--port 8080] [--max-sequences 16] [--max-queue 64]\n"
         "                     [--api-key KEY] [--max-body-bytes 1048576] [--shutdown-grace 30]\n"
         "                     [--served-model-name NAME]\n\n"
         "An OpenAI-compatible server: GET /health, /v1/models, /metrics; POST /v1/completions and\n"
         "/v1/chat/completions (\"stream\": true for server-sent events). Per request, \"speculative\":\n"
         "{\"slice\": NAME, \"draft_max\": K, ...} or {\"enabled\": false} overrides the default draft.\n"
         "--port 0 picks a free port (printed on stderr). SIGTERM: stop accepting, let running requests\n"
         "finish within --shutdown-grace seconds, cancel the rest, exit 0.\n";
}

int RunServe(std::vector<std::string> args) {
  server::ServerOptions options;
  std::string model_name;
  if (absl::Status s = TakeServeFlags(&args, &options, &model_name); !s.ok()) return Fail(s);
  RunConfig config;
  bool help = false;
  if (absl::Status s = ParseArgs(args, &config, &help); !s.ok()) return Fail(s);
  if (help) {
    PrintServeUsage(std::cout);
    return 0;
  }
  if (!config.prompt.empty() || !config.prompt_file.empty() || !config.prompt_ids.empty() || config.json) {
    return Fail(absl::InvalidArgumentError("serve takes no prompt and no --json: prompts come with the requests"));
  }
  if (config.load.model_dir.empty()) return Fail(absl::InvalidArgumentError("serve needs a model: -m DIR"));
  if (absl::Status s = config.generation.Validate(); !s.ok()) return Fail(s);
  config.load.max_sequences = options.max_sequences;

  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Load(config.load);
  if (!engine.ok()) return Fail(engine.status());
  const ModelInfo info = (*engine)->Describe();
  server::ServingDefaults defaults{
      .generation = config.generation,
      .model_name = !model_name.empty()
                        ? model_name
                        : std::filesystem::path(config.load.model_dir).lexically_normal().filename().string(),
      .context_size = config.generation.context_size > 0 ? config.generation.context_size
                                                         : info.max_position_embeddings,
      .chat_template = server::ChatTemplateFor(info.architecture),
  };
  if (defaults.model_name.empty()) defaults.model_name = "matspec";

  server::HttpServer http(**engine, defaults, options);
  absl::StatusOr<int> port = http.Bind();
  if (!port.ok()) return Fail(port.status());

  signal(SIGPIPE, SIG_IGN);  // a client that left must not end the server
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Fail(absl::InternalError("cannot create the shutdown pipe"));
  shutdown_fd = fds[1];
  struct sigaction action = {};
  action.sa_handler = OnShutdownSignal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  std::thread watcher([&http, fd = fds[0]] {
    char byte = 0;
    ssize_t n;
    while ((n = read(fd, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n == 1 && byte == 's') std::cerr << "matspec: shutting down (finishing running requests)\n";
    http.Shutdown();
  });

  std::cerr << "matspec: serving " << defaults.model_name << " on http://" << options.host << ":" << *port
            << " (max " << options.max_sequences << " running, " << options.max_queue << " waiting"
            << (options.api_key.empty() ? "" : ", API key required") << ")" << std::endl;
  const absl::Status served = http.Serve();
  // Serve() returned: wake the watcher if no signal did (it then finds Shutdown already done or does it).
  const char done = 'd';
  [[maybe_unused]] ssize_t n = write(fds[1], &done, 1);
  watcher.join();
  shutdown_fd = -1;
  close(fds[0]);
  close(fds[1]);
  if (!served.ok()) return Fail(served);
  std::cerr << "matspec: stopped" << std::endl;
  return 0;
}

}  // namespace matspec::cli
