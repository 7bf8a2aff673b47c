//===- ProfileTest.cpp - cost models and profile reports ------------------===//
//
// The GPU-free half of --profile: a kernel's cost model evaluated for a
// launch (rows, attended positions, the expert cap), and the table and JSON
// of profiled chunks (rates and fractions of the ceilings; "-" / absent
// where a kernel has no cost model or the program no ceilings).
//
//===----------------------------------------------------------------------===//

#include "dsrt/Profile.h"
#include "dsrt/Json.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dsrt {
namespace {

/// A Kernel table (as a buffer's root) with `cost` when `withCost`.
struct KernelBuffer {
  flatbuffers::FlatBufferBuilder fbb;
  const fb::Kernel *kernel = nullptr;

  explicit KernelBuffer(bool withCost) {
    flatbuffers::Offset<fb::KernelCost> cost = 0;
    if (withCost)
      cost = fb::CreateKernelCost(fbb, /*bytes_fixed=*/1000,
                                  /*bytes_per_row=*/10,
                                  /*bytes_per_context=*/2,
                                  /*bytes_per_expert=*/500, /*experts=*/64,
                                  /*experts_per_row=*/6,
                                  /*flops_per_row=*/300,
                                  /*flops_per_context=*/7, /*fp8=*/true);
    auto name = fbb.CreateString("dsc_test");
    fb::KernelBuilder k(fbb);
    k.add_name(name);
    if (withCost)
      k.add_cost(cost);
    fbb.Finish(k.Finish());
    kernel = flatbuffers::GetRoot<fb::Kernel>(fbb.GetBufferPointer());
  }
};

TEST(ProfileTest, KernelWorkFollowsTheCostModel) {
  KernelBuffer b(true);
  KernelWork w;
  ASSERT_TRUE(kernelWork(*b.kernel, 1, 9, w));
  EXPECT_DOUBLE_EQ(w.bytes, 1000 + 10 * 1 + 2 * 9 + 500 * 6);
  EXPECT_DOUBLE_EQ(w.flops, 300 * 1 + 7 * 9);
  // 16 rows could touch 96 experts; there are 64.
  ASSERT_TRUE(kernelWork(*b.kernel, 16, 200, w));
  EXPECT_DOUBLE_EQ(w.bytes, 1000 + 10 * 16 + 2 * 200 + 500 * 64);
  EXPECT_DOUBLE_EQ(w.flops, 300 * 16 + 7 * 200);
}

TEST(ProfileTest, KernelWithoutCostModelIsUnknown) {
  KernelBuffer b(false);
  KernelWork w;
  EXPECT_FALSE(kernelWork(*b.kernel, 4, 10, w));
}

ChunkProfile sampleProfile() {
  ChunkProfile c;
  c.entry = "decode";
  c.tokens = c.outputs = 1;
  c.context = 9;
  c.replays = 50;
  c.stepSeconds = 4e-3;
  c.markedSeconds = 5e-3;
  c.markerSeconds = 2e-6;
  c.ceilingsOf = "h200";
  c.bandwidth = 4e12;
  c.bf16Flops = 1e12;
  c.fp8Flops = 2e12;
  KernelProfile expert;
  expert.name = "dsc_moe_expert_up_warp_64x1408x2048";
  expert.summary = "ds.moe_experts \"quoted\"";
  expert.launches = 26;
  expert.seconds = 3e-3;
  expert.hasCost = true;
  expert.bytes = 6e9;
  expert.flops = 3e9;
  expert.fp8 = true;
  KernelProfile add;
  add.name = "dsc_add_generic_2048";
  add.launches = 80;
  add.seconds = 1e-3;
  c.kernels = {expert, add};
  return c;
}

TEST(ProfileTest, JsonCarriesRatesAndFractions) {
  auto parsed = json::parse(profileJson({sampleProfile()}));
  ASSERT_TRUE(parsed) << parsed.error();
  const json::Value &chunks = parsed.value();
  ASSERT_TRUE(chunks.isArray());
  ASSERT_EQ(chunks.elements().size(), 1u);
  const json::Value &c = chunks.elements()[0];
  EXPECT_EQ(c.find("entry")->asString(), "decode");
  EXPECT_DOUBLE_EQ(c.find("kernel_seconds")->asNumber(), 4e-3);
  EXPECT_DOUBLE_EQ(c.find("step_seconds")->asNumber(), 4e-3);
  EXPECT_DOUBLE_EQ(c.find("marker_seconds")->asNumber(), 2e-6);
  EXPECT_EQ(c.find("ceilings")->find("device")->asString(), "h200");
  const auto &kernels = c.find("kernels")->elements();
  ASSERT_EQ(kernels.size(), 2u);
  const json::Value &e = kernels[0];
  EXPECT_EQ(e.find("summary")->asString(), "ds.moe_experts \"quoted\"");
  EXPECT_DOUBLE_EQ(e.find("bytes_per_second")->asNumber(), 2e12);
  EXPECT_DOUBLE_EQ(e.find("bandwidth_fraction")->asNumber(), 0.5);
  // fp8 products count against the fp8 ceiling: 1 TFLOP/s of 2.
  EXPECT_DOUBLE_EQ(e.find("flops_fraction")->asNumber(), 0.5);
  EXPECT_TRUE(e.find("fp8")->asBool());
  // No cost model: no bytes, rates or fractions.
  EXPECT_EQ(kernels[1].find("bytes"), nullptr);
  EXPECT_EQ(kernels[1].find("bandwidth_fraction"), nullptr);
  EXPECT_EQ(kernels[1].find("launches")->asNumber(), 80);
}

TEST(ProfileTest, JsonWithoutCeilingsHasNullFractions) {
  ChunkProfile c = sampleProfile();
  c.ceilingsOf.clear();
  c.bandwidth = c.bf16Flops = c.fp8Flops = 0;
  auto parsed = json::parse(profileJson({c}));
  ASSERT_TRUE(parsed) << parsed.error();
  const json::Value &e =
      parsed.value().elements()[0].find("kernels")->elements()[0];
  EXPECT_TRUE(e.find("bandwidth_fraction")->isNull());
  EXPECT_TRUE(e.find("flops_fraction")->isNull());
  EXPECT_DOUBLE_EQ(e.find("bytes_per_second")->asNumber(), 2e12);
}

TEST(ProfileTest, TableListsKernelsWithTheirShares) {
  std::string table = profileTable({sampleProfile()});
  EXPECT_NE(table.find("profile: decode, 1 tokens, 1 outputs, 9 positions "
                       "attended"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("step 4.000 ms"), std::string::npos) << table;
  EXPECT_NE(table.find("kernels 4.000 ms = 100.0% of the step"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("2.00 us per event"), std::string::npos) << table;
  // 3 ms of 4: 75%; 2 TB/s of 4: 50%; 1 TFLOP/s of the fp8 2: 50%.
  EXPECT_NE(table.find("3.000  75.0%    26    115.38      2000   50.0%      "
                       "1.00   50.0%  dsc_moe_expert_up"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("-       -         -       -  dsc_add_generic_2048"),
            std::string::npos)
      << table;
  EXPECT_TRUE(profileTable({}).empty());
}

} // namespace
} // namespace dsrt
