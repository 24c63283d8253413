// Writes a known set of TensorBoard events and a projector config into a
// folder, for tests/util/tb_readback.py to read back with TensorBoard's own
// reader (python.tensorboard_readback). Every value here is exactly
// representable in float32, so the reader can compare with ==; keep this
// file and the EXPECTED table of tb_readback.py in step.
//   tb_write_check <folder>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "ltcl/util/error.h"
#include "ltcl/util/tensorboard.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: tb_write_check <folder>\n");
    return 2;
  }
  std::string dir = argv[1];
  try {
    ltcl::tb::EventWriter writer(dir);
    const float losses[] = {2.5f, 1.25f, 0.75f, 0.5f};
    for (int i = 0; i < 4; ++i) {
      writer.scalar("train/loss", losses[i], 10 * i);
    }
    writer.scalar("val/accuracy", 0.375f, 30);
    writer.scalar("val/accuracy", -1.5f, int64_t{1} << 40);

    std::vector<float> values;
    for (int i = 0; i <= 10; ++i) {
      values.push_back(static_cast<float>(i));
    }
    writer.histogram("weights/fc", values, 10, 5);
    writer.histogram("weights/fc", {-1.f, -1.f, 0.5f, 3.f}, 20, 2);
    writer.histogram("weights/constant", {4.f, 4.f}, 20);

    writer.text("config", "**lr** 0.1\n\n| k | v |\n|---|---|\n| µ | 1 |", 0);
    writer.flush();

    std::ofstream(dir + "/vectors.tsv") << "1\t0\n0\t1\n0.5\t0.5\n";
    std::ofstream(dir + "/metadata.tsv")
        << "label\tclass\tgroup\n0\tcat\tmany\n1\tdog\tfew\n0\tcat\tmany\n";
    ltcl::tb::write_projector_config(
        dir, {{"test", "vectors.tsv", "metadata.tsv"}});
    writer.close();
    std::printf("%s\n", writer.path().c_str());
  } catch (const ltcl::Error& e) {
    std::fprintf(stderr, "tb_write_check: %s\n", e.what());
    return 1;
  }
  return 0;
}
