//===- ProgramInspector.h - read and print a compiled program ---*- C++ -*-===//
//
// `dsc inspect-program FILE`: finds the FlatBuffer program in a file (a raw
// program from `dsc compile --emit=program`, or the one a dsc executable or
// its host object embeds), verifies it with dsrt::Program::load exactly as
// the runtime does, and prints its header, weights, kernels, entry points
// with their launches, and the arena buffers each entry point writes: as
// aligned text for a reader, or as one JSON document for tools and tests.
//
//===----------------------------------------------------------------------===//

#ifndef DSC_TOOLS_DSC_PROGRAMINSPECTOR_H
#define DSC_TOOLS_DSC_PROGRAMINSPECTOR_H

#include "dsrt/Expected.h"
#include "dsrt/Program.h"

#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace dsc {

/// How a program was found in its file.
enum class ProgramLocation {
  File,       // the whole file is the program
  Symbol,     // an executable's or object's dsc_program_data/size symbols
  Identifier, // no symbols: a verified "DSCP" FlatBuffer in a section
};

/// A verified program and the file it came from. Owns the bytes the
/// program views; movable, not copyable.
class ProgramFile {
public:
  /// Reads `path`. A file whose bytes 4..8 are "DSCP" is a raw program;
  /// otherwise it must be an executable or object file (ELF, Mach-O, COFF):
  /// the program is read through the `dsc_program_data` and
  /// `dsc_program_size` symbols, or, when the file has no symbol table
  /// (stripped), the first position in a section where a "DSCP" FlatBuffer
  /// passes dsrt::Program::load. Every offset is checked against the
  /// section and the file; every error message names `path`.
  static dsrt::Expected<ProgramFile> open(const std::string &path);

  /// A program held in memory (`dsc compile --emit=program-json`).
  static dsrt::Expected<ProgramFile> fromBytes(std::vector<uint8_t> bytes,
                                               const std::string &origin);

  const dsrt::Program &program() const { return *program_; }
  const std::string &path() const { return path_; }
  ProgramLocation location() const { return location_; }
  /// Where the program starts in the file, and its size; for
  /// ProgramLocation::Identifier the size is what the section holds from
  /// the start on (the program's own size is not recorded there).
  uint64_t fileOffset() const { return fileOffset_; }
  uint64_t size() const { return size_; }

private:
  ProgramFile() = default;
  /// Verifies `size` bytes at `data` (inside file_ or bytes_), copying them
  /// to aligned storage first when they are not 8-byte aligned.
  dsrt::Status load(const uint8_t *data, uint64_t size,
                    const std::string &origin);

  std::unique_ptr<llvm::MemoryBuffer> file_;
  std::vector<uint8_t> bytes_;
  std::vector<uint64_t> aligned_;
  std::optional<dsrt::Program> program_;
  std::string path_;
  ProgramLocation location_ = ProgramLocation::File;
  uint64_t fileOffset_ = 0;
  uint64_t size_ = 0;
};

/// The readable listing: header, weights, kernels, entry points with their
/// launches (`kernel(arena+4096, weight[3], tokens, ...)`), buffers.
void printProgramText(const ProgramFile &file, llvm::raw_ostream &os);

/// The same content as one JSON document.
llvm::json::Value programToJson(const ProgramFile &file);

} // namespace dsc

#endif // DSC_TOOLS_DSC_PROGRAMINSPECTOR_H
