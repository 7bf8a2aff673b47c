# -*- Python -*-
# lit configuration of dsc: runs every .mlir/.test file under test/lit with
# dsc, dsc-opt and FileCheck. Substitutions:
#   %examples   the repository's examples/ folder
#   %tools      the repository's tools/ folder
#   %python     /usr/bin/python3 (Debian's, which has NumPy)

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "dsc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.dsc_obj_root)

# Captured FileCheck variables do not leak across CHECK-LABEL blocks.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

config.substitutions.append(("%examples", os.path.join(config.dsc_source_dir, "examples")))
config.substitutions.append(("%tools", os.path.join(config.dsc_source_dir, "tools")))
config.substitutions.append(("%python", config.python_executable))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
tool_dirs = [config.dsc_tools_dir, config.llvm_tools_dir]
llvm_config.add_tool_substitutions(["dsc", "dsc-opt"], tool_dirs)

# CUDA toolkit (ptxas, libdevice): the NVPTX tests need it; without it they
# are reported as UNSUPPORTED.
_cuda = os.environ.get("CUDA_HOME", "/usr/local/cuda")
if os.path.exists(os.path.join(_cuda, "nvvm", "libdevice", "libdevice.10.bc")):
    config.available_features.add("cuda-toolkit")
    config.environment["CUDA_HOME"] = _cuda
