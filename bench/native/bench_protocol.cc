// The supervisor's per-run parsing cost: framing, the reply meta and the
// result check. Each benchmark checks its output once before timing.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "protocol/frame.h"
#include "protocol/messages.h"

namespace pycage::protocol {
namespace {

std::string ResultOfSize(size_t rows) {
  std::string json = "[";
  for (size_t i = 0; i < rows; ++i) {
    if (i) json += ',';
    json += R"({"id":)" + std::to_string(i) + R"(,"name":"order","amount":12.5,"tags":["a","b"]})";
  }
  return json + "]";
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "benchmark self-check failed: %s\n", what);
    std::abort();
  }
}

void BM_Protocol_DecodeFrames(benchmark::State& state) {
  const std::string payload = ResultOfSize(static_cast<size_t>(state.range(0)));
  const std::string stream = EncodeFrame(R"({"status":"ok"})") + EncodeFrame(payload);
  {
    FrameDecoder decoder(payload.size() + 64);
    Check(decoder.Feed(stream).ok(), "feed");
    std::string frame;
    Check(decoder.Next(&frame) && decoder.Next(&frame) && frame == payload, "round trip");
  }
  for (auto _ : state) {
    FrameDecoder decoder(payload.size() + 64);
    // Pipes deliver 64 KiB at a time.
    for (size_t offset = 0; offset < stream.size(); offset += 65536) {
      benchmark::DoNotOptimize(decoder.Feed(std::string_view(stream).substr(offset, 65536)).ok());
    }
    std::string frame;
    while (decoder.Next(&frame)) benchmark::DoNotOptimize(frame.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_Protocol_DecodeFrames)->Arg(1)->Arg(1000)->Arg(100000);

void BM_Protocol_ParseReplyMeta(benchmark::State& state) {
  const std::string meta = R"({"status":"error","error":{"type":"KeyError","message":"'x'",)"
                           R"("traceback":"Traceback (most recent call last):\n  File \"<node>\", line 3\nKeyError: 'x'",)"
                           R"("line":3},"usage":{"cpuMs":1.5,"maxRssKb":9000}})";
  Check(ParseRunReplyMeta(meta).ok(), "parse");
  for (auto _ : state) benchmark::DoNotOptimize(ParseRunReplyMeta(meta).ok());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Protocol_ParseReplyMeta);

void BM_Protocol_ValidateResult(benchmark::State& state) {
  const std::string payload = ResultOfSize(static_cast<size_t>(state.range(0)));
  Check(ValidateResultJson(payload, 80).ok(), "validate");
  for (auto _ : state) benchmark::DoNotOptimize(ValidateResultJson(payload, 80).ok());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_Protocol_ValidateResult)->Arg(1)->Arg(1000)->Arg(100000);

// The baseline: copying the same bytes once. The machine is shared and noisy,
// so each benchmark is also printed as a ratio to this, measured in the same run.
void BM_Baseline_CopyBytes(benchmark::State& state) {
  const std::string payload = ResultOfSize(static_cast<size_t>(state.range(0)));
  std::string copy(payload.size(), '\0');
  for (auto _ : state) {
    std::memcpy(copy.data(), payload.data(), payload.size());
    benchmark::DoNotOptimize(copy.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * payload.size()));
}
BENCHMARK(BM_Baseline_CopyBytes)->Arg(1)->Arg(1000)->Arg(100000);

// Prints the usual table, then each benchmark's time as a multiple of the
// baseline with the same argument.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && run.error_occurred == false) {
        times_[run.benchmark_name()] = run.GetAdjustedRealTime();
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  void PrintRatios() const {
    std::printf("\nratio to BM_Baseline_CopyBytes with the same argument (same run):\n");
    for (const auto& [name, time] : times_) {
      const size_t slash = name.find('/');
      if (name.rfind("BM_Baseline", 0) == 0 || slash == std::string::npos) continue;
      const auto baseline = times_.find("BM_Baseline_CopyBytes" + name.substr(slash));
      if (baseline == times_.end() || baseline->second <= 0) continue;
      std::printf("  %-40s %10.1fx\n", name.c_str(), time / baseline->second);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace
}  // namespace pycage::protocol

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  pycage::protocol::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
