// cli/bench.cpp - `knlp bench decode`: benchmarks that write JSON (never tests).
#include <memory>

#include "cli/cli.h"
#include "kv/kv.h"  // DecodeBenchOptions, run_decode_bench
#include "util/fs.h"

namespace knlp {

Action add_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "benchmarks that write JSON; `make bench` runs them");
  bench->require_subcommand(1);
  auto* decode = bench->add_subcommand(
      "decode", "decode attention alone, per KV cache format: ms per step, bytes of cache read, "
                "GB/s against the machine's copy bandwidth, speed-up over an fp32 cache");
  struct Options {
    std::string json;
    DecodeBenchOptions decode;
  };
  auto o = std::make_shared<Options>();
  decode->add_option("--json", o->json, "write the results to FILE (atomically)");
  decode->add_flag("--quick", o->decode.quick, "three small shapes: a smoke run of a few seconds");
  decode->add_option("--threads", o->decode.threads, "CPU threads (0: all cores)")
      ->capture_default_str();
  decode->add_option("--device", o->decode.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))
      ->capture_default_str();
  decode->add_option("--isa", o->decode.isa, "CPU kernel instruction set (avx512vnni, avx512, avx2, x86-64); "
                                             "default: the widest this CPU runs");
  decode->add_option("--batch", o->decode.batches, "only these batch sizes of the grid (e.g. 1,4)")
      ->delimiter(',');
  decode->add_option("--context", o->decode.contexts, "only these context lengths of the grid (e.g. 8192)")
      ->delimiter(',');
  decode->add_option("--max-cache-gib", o->decode.max_cache_gib,
                     "skip shapes whose fp32 K+V cache is larger")
      ->capture_default_str();
  return [o, decode] {
    if (!decode->parsed()) return 0;
    const auto doc = run_decode_bench(o->decode);
    if (!o->json.empty()) {
      const fs::path path(o->json);
      if (path.has_parent_path()) fs::create_directories(path.parent_path());
      write_file_atomic(path, doc.dump(2) + "\n");
    }
    return 0;
  };
}

}  // namespace knlp
