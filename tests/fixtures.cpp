#include "fixtures.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>

#include <ATen/CPUGeneratorImpl.h>

#include <fstream>

#include "data/data.h"
#include "util/fs.h"

namespace knlp::test {

RunOptions quiet(const std::filesystem::path& dir) {
  RunOptions o;
  o.run_dir = dir;
  o.progress = false;
  o.plot = false;
  return o;
}

nlohmann::json metrics_of(const std::filesystem::path& dir) {
  return nlohmann::json::parse(read_file(dir / "metrics.json"));
}

std::filesystem::path temp_dir(const std::string& tag) {
  auto dir = std::filesystem::temp_directory_path() /
             fmt::format("knlp-test-{}-{}", tag, ::getpid());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

static void write_split(const std::filesystem::path& dir, const std::string& prefix, int64_t n,
                        uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto labels = torch::randint(0, 10, {n}, gen, torch::kLong);
  auto images = torch::randint(0, 60, {n, 28, 28}, gen, torch::kLong);
  auto lab = labels.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t k = lab[i], r = 2 + 6 * (k / 4), c = 2 + 6 * (k % 4);
    images[i].narrow(0, r, 6).narrow(1, c, 6).fill_(250);
  }
  write_idx(dir / (prefix + "-images-idx3-ubyte.gz"), images.to(torch::kUInt8));
  write_idx(dir / (prefix + "-labels-idx1-ubyte.gz"), labels.to(torch::kUInt8));
}

void write_tiny_mnist(const std::filesystem::path& dir, int64_t n_train, int64_t n_test,
                      const std::string& name) {
  std::filesystem::create_directories(dir / name);
  write_split(dir / name, "train", n_train, 1);
  write_split(dir / name, "t10k", n_test, 2);
}

static void write_cifar_file(const std::filesystem::path& path, int classes, int64_t n) {
  std::string bytes;
  for (int64_t i = 0; i < n; ++i) {
    const int fine = static_cast<int>((7 * i + 3) % classes);
    if (classes == 100) bytes += static_cast<char>(fine / 5);
    bytes += static_cast<char>(fine);
    for (int v : {static_cast<int>(i), static_cast<int>(2 * i), static_cast<int>(255 - i)})
      bytes.append(1024, static_cast<char>(v & 0xff));
  }
  write_file_atomic(path, bytes);
}

void write_tiny_cifar(const std::filesystem::path& dir, int classes, int64_t n_train,
                      int64_t n_test) {
  if (classes == 10) {
    std::filesystem::create_directories(dir / "cifar-10-batches-bin");
    for (int b = 1; b <= 5; ++b)
      write_cifar_file(dir / "cifar-10-batches-bin" / fmt::format("data_batch_{}.bin", b), 10,
                       n_train);
    write_cifar_file(dir / "cifar-10-batches-bin" / "test_batch.bin", 10, n_test);
  } else {
    std::filesystem::create_directories(dir / "cifar-100-binary");
    write_cifar_file(dir / "cifar-100-binary" / "train.bin", 100, n_train);
    write_cifar_file(dir / "cifar-100-binary" / "test.bin", 100, n_test);
  }
}

namespace {

// The lines every tiny test run shares: seed 7, one CPU thread, quiet, data and
// results where the test says.
std::string general_lines(int64_t epochs, int64_t batch, const char* lr,
                          const std::filesystem::path& data_dir,
                          const std::filesystem::path& out_dir) {
  return fmt::format(R"(CONFIG_NUM_EPOCHS={}
CONFIG_BATCH_SIZE={}
CONFIG_LEARNING_RATE="{}"
CONFIG_SEED=7
CONFIG_DEVICE="cpu"
CONFIG_TRAIN_THREADS=1
CONFIG_DATA_DIR="{}"
CONFIG_OUTPUT_DIR="{}"
CONFIG_CHECKPOINT_INTERVAL=0
CONFIG_LOG_LEVEL="warn"
)",
                     epochs, batch, lr, data_dir.string(), out_dir.string());
}

}  // namespace

std::shared_ptr<Model> last_checkpoint_model(const Config& cfg, const std::filesystem::path& run) {
  auto model = make_model(resolve(cfg).model);
  torch::serialize::InputArchive ar;
  ar.load_from((run / "last" / "model.pt").string());
  model->load(ar);
  return model;
}

nlohmann::json untimed(nlohmann::json points) {
  for (auto& p : points)
    for (auto it = p.begin(); it != p.end();) {
      const std::string& k = it.key();
      const bool clock = k == "time_s" || k == "mfu" ||
                         (k.size() > 6 && k.compare(k.size() - 6, 6, "_per_s") == 0);
      it = clock ? p.erase(it) : std::next(it);
    }
  return points;
}

Config tiny_lenet5_config(const std::filesystem::path& data_dir,
                          const std::filesystem::path& out_dir, int epochs) {
  return Config::parse(general_lines(epochs, 32, "0.003", data_dir, out_dir) + R"(CONFIG_MODEL_SELECT_LENET5=y
CONFIG_MODEL="lenet5"
CONFIG_LENET5_DATASET="mnist"
CONFIG_VALIDATION_IMAGES=40
CONFIG_OPTIMIZER_SELECT_ADAMW=y
CONFIG_OPTIMIZER="adamw"
CONFIG_ADAMW_BETA1="0.9"
CONFIG_ADAMW_BETA2="0.999"
CONFIG_ADAMW_EPSILON="1e-8"
CONFIG_ADAMW_WEIGHT_DECAY="0.0001"
)",
                       "tiny.config");
}

std::filesystem::path shared_gpt2_vocab() {
  const char* src = std::getenv("KNLP_SOURCE_DIR");
  if (!src) src = KNLP_TEST_SOURCE_DIR;
  auto dir = std::filesystem::path(src) / ".." / "shared" / "data" / "gpt2";
  return std::filesystem::exists(dir / "encoder.json") ? dir : std::filesystem::path();
}

void write_cyclic_tokens(const std::filesystem::path& dir, int64_t n_train, int64_t n_val,
                         int64_t period, int64_t vocab, const std::string& name) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto cycle = torch::randperm(vocab, gen, torch::kLong).narrow(0, 0, period);
  auto ids_of = [&](int64_t n, int64_t offset) {
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < n; ++i)
      ids.push_back(static_cast<int32_t>(cycle[(i + offset) % period].item<int64_t>()));
    return ids;
  };
  std::filesystem::create_directories(dir / name);
  write_token_file(dir / name / "train.bin", ids_of(n_train, 0));
  write_token_file(dir / name / "val.bin", ids_of(n_val, 5));
  std::ofstream(dir / name / "manifest.json") << R"({"tokenizer": {"name": "byte"}})";
}

Config tiny_gpt2_config(const std::filesystem::path& data_dir,
                        const std::filesystem::path& out_dir, int max_iters) {
  return Config::parse(general_lines(1, 4, "0.01", data_dir, out_dir) +
                           fmt::format(R"(CONFIG_MODEL_SELECT_GPT2=y
CONFIG_MODEL="gpt2"
CONFIG_GPT2_MODEL_CUSTOM=y
CONFIG_GPT2_MODEL_NAME="custom"
CONFIG_GPT2_N_LAYER=2
CONFIG_GPT2_N_HEAD=2
CONFIG_GPT2_N_EMBD=32
CONFIG_GPT2_BLOCK_SIZE=16
CONFIG_GPT2_VOCAB_SIZE=64
CONFIG_GPT2_DROPOUT="0.1"
CONFIG_GPT2_BIAS=y
CONFIG_GPT2_WEIGHT_TYING=y
CONFIG_GPT2_INIT_FROM=""
CONFIG_GPT2_TOKENIZER_BYTE=y
CONFIG_GPT2_TOKENIZER="byte"
CONFIG_GPT2_DATASET_CUSTOM=y
CONFIG_GPT2_DATASET_NAME="custom"
CONFIG_GPT2_CUSTOM_DATASET_PATH="{}/tiny"
CONFIG_GPT2_MAX_ITERS={}
CONFIG_GPT2_MAX_TIME=0
CONFIG_GPT2_GRADIENT_ACCUMULATION=2
CONFIG_GPT2_WARMUP_STEPS=4
CONFIG_GPT2_DECAY_LR=y
CONFIG_GPT2_MIN_LR="0.001"
CONFIG_GPT2_EVAL_INTERVAL=5
CONFIG_GPT2_EVAL_SAMPLES=4
CONFIG_GPT2_LOG_INTERVAL=1
CONFIG_MIXED_PRECISION=y
CONFIG_GPT2_AMP_DTYPE="bfloat16"
CONFIG_GPT2_TF32_ALLOWED=y
CONFIG_GPT2_GENERATION_TEMPERATURE="0.8"
CONFIG_GPT2_GENERATION_TOP_K=200
CONFIG_GPT2_GENERATION_MAX_TOKENS=20
CONFIG_OPTIMIZER_SELECT_ADAMW=y
CONFIG_OPTIMIZER="adamw"
CONFIG_ADAMW_BETA1="0.9"
CONFIG_ADAMW_BETA2="0.99"
CONFIG_ADAMW_EPSILON="1e-8"
CONFIG_ADAMW_WEIGHT_DECAY="0.1"
)",
                                       data_dir.string(), max_iters),
                       "tiny-gpt2.config");
}

}  // namespace knlp::test
