// RUN: dsc-opt %s -split-input-file -verify-diagnostics --ds-logprobs="top=5" | FileCheck %s
// RUN: dsc-opt %s -split-input-file -verify-diagnostics --ds-logprobs="top=0" | FileCheck %s --check-prefix=ZERO
// RUN: dsc-opt %s -split-input-file --ds-logprobs | FileCheck %s --check-prefix=OFF
// RUN: dsc-opt %s -split-input-file -verify-diagnostics --ds-logprobs="top=5" --ds-configure-kernels="target=cuda:sm_90a" | FileCheck %s --check-prefix=SM90
// RUN: dsc-opt %s -split-input-file -verify-diagnostics --ds-logprobs="top=5" --ds-configure-kernels | FileCheck %s --check-prefix=CPU
// RUN: not dsc-opt %s -split-input-file --ds-logprobs="top=65" 2>&1 | FileCheck %s --check-prefix=TOO-MANY

// ds-logprobs: a ds.logprobs of the entry's returned logits, sampled tokens
// and sampling parameters, returned after the tokens (the function type
// follows); K + 1 columns (the sampled token, then the top K). Functions
// that are not entry points stay as they are.

// CHECK-LABEL: func.func @decode
// CHECK-SAME: -> (tensor<?x64xf32>, tensor<?xi32>, tensor<?x6xf32>, tensor<?x6xi32>, tensor<?x4xf32>)
// CHECK: %[[N:.*]], %{{.*}} = ds.sample %[[L:[^,]*]], %[[P:[^ ]*]] :
// CHECK-NEXT: %[[LP:.*]], %[[IDS:.*]] = ds.logprobs %[[L]], %[[N]], %[[P]] : tensor<?x64xf32>, tensor<?xi32>, tensor<?x8xi32> -> tensor<?x6xf32>, tensor<?x6xi32>
// CHECK-NEXT: return %[[L]], %[[N]], %[[LP]], %[[IDS]], %{{.*}} :
// ZERO-LABEL: func.func @decode
// ZERO: ds.logprobs {{.*}} -> tensor<?x1xf32>, tensor<?x1xi32>
// OFF-LABEL: func.func @decode
// OFF-NOT: ds.logprobs
// OFF: return %{{[^,]*}}, %{{[^,]*}}, %{{[^,]*}} :
// A block of 1,024 threads per row on CUDA, the host's loop elsewhere.
// SM90-LABEL: func.func @decode
// SM90: ds.logprobs {{.*}}ds.config = #ds.kernel_config<strategy = block, block = 1024>
// CPU-LABEL: func.func @decode
// CPU: ds.logprobs {{.*}}ds.config = #ds.kernel_config<strategy = generic>
// CHECK-LABEL: func.func @helper
// CHECK-NOT: ds.logprobs
// TOO-MANY: error: ds-logprobs: top must be at most 64, got 65
func.func @decode(%logits: tensor<?x64xf32>, %params: tensor<?x8xi32>, %cache: tensor<?x4xf32>) -> (tensor<?x64xf32>, tensor<?xi32>, tensor<?x4xf32>) attributes {ds.entry = "decode"} {
  %next, %w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %logits, %next, %cache : tensor<?x64xf32>, tensor<?xi32>, tensor<?x4xf32>
}
func.func @helper(%logits: tensor<?x64xf32>, %params: tensor<?x8xi32>) -> tensor<?xi32> {
  %next, %w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %next : tensor<?xi32>
}

// -----

// expected-error @+1 {{ds-logprobs: the entry's sampled tokens must come from a ds.sample of its returned logits}}
func.func @unsampled(%logits: tensor<?x64xf32>, %next: tensor<?xi32>, %cache: tensor<?x4xf32>) -> (tensor<?x64xf32>, tensor<?xi32>, tensor<?x4xf32>) attributes {ds.entry = "decode"} {
  return %logits, %next, %cache : tensor<?x64xf32>, tensor<?xi32>, tensor<?x4xf32>
}

// -----

// expected-error @+1 {{ds-logprobs: expected the entry to return (logits, sampled tokens, cache)}}
func.func @short(%logits: tensor<?x64xf32>, %params: tensor<?x8xi32>) -> tensor<?xi32> attributes {ds.entry = "decode"} {
  %next, %w = ds.sample %logits, %params : tensor<?x64xf32>, tensor<?x8xi32> -> tensor<?xi32>, tensor<?x64xf32>
  return %next : tensor<?xi32>
}
