// matspec: speculative decoding with a MatFormer slice as the draft.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

namespace {

void PrintUsage(std::ostream& out) {
  out << "usage: matspec <command> [flags]\n\n"
         "commands:\n"
         "  generate   generate text (speculative by default)\n"
         "  slices     list the slices of a table with their sizes and validity for a model\n"
         "  inspect    describe a model checkpoint\n"
         "  serve      an OpenAI-compatible HTTP server (matspec serve --help)\n"
         "  bench      measure acceptance and speed-up of draft configurations on a prompt set (bench --help)\n"
         "  tune       bench briefly and write the fastest configuration as a preset (tune --help)\n"
         "  quantize   write a q8 / q4 copy of a checkpoint: quantize -m DIR --type q8|q4 --out DIR2\n\n"
         "flags (also usable as keys of a TOML preset given with --config FILE; flags override it):\n";
  for (const matspec::RunOptionDoc& d : matspec::RunOptionDocs()) {
    std::string flag = "  --" + d.name + (d.boolean ? "" : " V");
    if (!d.alias.empty()) flag += ", -" + d.alias;
    out << flag << std::string(flag.size() < 32 ? 32 - flag.size() : 1, ' ') << d.help << "\n";
  }
  out << "  --config FILE                 TOML preset (keys = the long flag names)\n\n"
         "Ctrl-C during generate cancels it within one round: the text so far and the statistics (and the\n"
         "--json object, stop_reason \"cancelled\") are still printed, and the exit code is 130.\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  const std::string command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    PrintUsage(std::cout);
    return 0;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "serve") return matspec::cli::RunServe(std::move(args));
  if (command == "bench" || command == "tune") return matspec::cli::RunBench(args, command == "tune");
  matspec::RunConfig config;
  bool help = false;
  if (absl::Status s = matspec::cli::ParseArgs(args, &config, &help); !s.ok()) return matspec::cli::Fail(s);
  if (help) {
    PrintUsage(std::cout);
    return 0;
  }
  if (command == "generate") return matspec::cli::RunGenerate(config);
  if (command == "slices") return matspec::cli::RunSlices(config);
  if (command == "inspect") return matspec::cli::RunInspect(config);
  if (command == "quantize") return matspec::cli::RunQuantize(config);
  std::cerr << "matspec: unknown command \"" << command << "\" (expected generate, slices, inspect, serve, bench, tune or quantize)\n";
  return 2;
}
