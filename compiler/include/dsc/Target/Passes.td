//===- Passes.td - dsc target passes -----------------------*- tablegen -*-===//
//
// The target steps of dsc: kernel generation and program emission. They live
// in the target library (DSCTargetHost), apart from the model and
// scheduling passes of dsc/Compiler/Passes.td, which never link a target.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TARGET_PASSES_TD
#define DSC_TARGET_PASSES_TD

include "mlir/Pass/PassBase.td"

def DSGenerateKernels : Pass<"ds-generate-kernels", "::mlir::ModuleOp"> {
  let summary = "Generate the kernel of every kernel-level op signature";
  let description = [{
    Generates the kernel of every distinct kernel-level op signature of the
    entry points, with the strategy `ds-configure-kernels` chose
    (`ds.config`; `generic` where none was chosen), into a nested
    `module @kernels` (deduplicated: a 61-layer model holds one kernel per
    shape, not one per layer); declares each as a `ds.kernel` named after its
    op, strategy and shape; and names on every kernel-level op the kernel it
    runs (`ds.kernel`), which `ds-schedule` turns into launches. The kernels
    index the paged latent cache of `max-batch` slots of `max-seq-len`
    positions in pages of `page-size` (as ds-schedule lays it out).
    With `host-twins` (CUDA targets, `--check-kernels` executables) each
    kernel's generic lowering is generated too, into `module @host_twins`,
    under the name of the kernel it mirrors.
  }];
  let options = [
    Option<"maxSeqLen", "max-seq-len", "int64_t", "4096",
           "positions per sequence in the KV cache">,
    Option<"maxBatch", "max-batch", "int64_t", "8",
           "sequences held in the KV cache at once">,
    Option<"pageSize", "page-size", "int64_t", "0",
           "positions per KV cache page (divides max-seq-len); 0: 64 or "
           "the largest divisor of max-seq-len below it">,
    Option<"hostTwins", "host-twins", "bool", "false",
           "also generate each kernel's generic host lowering "
           "(module @host_twins), for --check-kernels executables">
  ];
  let dependentDialects = ["::dsc::ds::DSDialect", "::mlir::func::FuncDialect"];
}

def DSSerialize : Pass<"ds-serialize", "::mlir::ModuleOp"> {
  let summary = "Write the scheduled module as the FlatBuffer program";
  let description = [{
    Writes the program of a module that went through ds-schedule to
    `output` in the format of `runtime/schemas/program.fbs`: the model
    metadata (`ds.model`), the weight manifest (`ds.weight` in module order),
    the kernels (`ds.kernel`), the launches of each entry point, the arena
    size and the cache geometry. The module is not changed. `dsc compile`
    embeds the same bytes in the executable (`--emit=program` writes them).
  }];
  let options = [
    Option<"output", "output", "std::string", "\"\"",
           "file to write the program to">,
    Option<"target", "target", "std::string", "\"cpu\"",
           "target name recorded in the program">
  ];
}

def DSEmitGpuImage : Pass<"ds-emit-gpu-image", "::mlir::ModuleOp"> {
  let summary = "Compile the generated CUDA kernels to PTX or a cubin";
  let description = [{
    Compiles `module @kernels` of a module that went through
    `ds-generate-kernels` for a CUDA target: each kernel wrapped in its
    `<name>_entry`, libdevice linked, LLVM -O3 with the NVPTX target machine,
    then PTX (`format=ptx`) or, through the CUDA toolkit's `ptxas`, a cubin
    (`format=cubin`), written to `output`. `dsc compile` runs the same step
    and embeds the image in the program; this pass makes it reachable from
    `dsc-opt` for tests and tools. The module is not changed.
  }];
  let options = [
    Option<"target", "target", "std::string", "\"cuda:sm_90a\"",
           "instruction-set target (a cuda one)">,
    Option<"output", "output", "std::string", "\"\"",
           "file to write the image to">,
    Option<"format", "format", "std::string", "\"ptx\"",
           "ptx | cubin (needs ptxas)">,
    Option<"cudaPath", "cuda-path", "std::string", "\"\"",
           "CUDA toolkit (libdevice, ptxas); default: $CUDA_HOME, PATH, "
           "/usr/local/cuda">
  ];
}

def DSEmitHostObject : Pass<"ds-emit-host-object", "::mlir::ModuleOp"> {
  let summary = "Compile the host kernels and the program into an object file";
  let description = [{
    Writes the object file `dsc compile` links into an executable, for a
    scheduled module of the host target: its `module @kernels` lowered
    through LLVM for the host CPU `cpu` (the kernel table
    `dsc_kernel_table`/`dsc_kernel_count`, one function per `ds.kernel`) and
    its program (as ds-serialize writes it, `dsc_program_data`). Reachable
    from `dsc-opt` for tests and tools; the nested kernel module is lowered
    on a copy, so the module is not changed.
  }];
  let options = [
    Option<"output", "output", "std::string", "\"\"",
           "object file to write">,
    Option<"cpu", "cpu", "std::string", "\"x86-64\"",
           "host CPU the code is tuned for (native: this machine)">
  ];
}

#endif // DSC_TARGET_PASSES_TD
