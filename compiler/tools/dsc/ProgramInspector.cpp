//===- ProgramInspector.cpp - read and print a compiled program ----------===//
//
// Finding a program in a file, and the text and JSON listings of
// `dsc inspect-program`. Nothing here reads a byte of the program before
// dsrt::Program::load has verified it (the same checks the runtime makes
// before it runs one), so the listings can index weights, kernels and
// kernel outputs without checking again; fields the schema marks optional
// (summary, versions, scale tensors, twins, kernel costs, device ceilings)
// may be absent and are printed as "-", "none" or null.
//
//===----------------------------------------------------------------------===//

#include "ProgramInspector.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/BinaryFormat/Magic.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Support/Endian.h"
#include "llvm/Support/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <tuple>

using namespace llvm;
namespace fb = dsrt::fb;
using dsrt::KernelLaunchShape;
using dsrt::launchShapeOf;

namespace dsc {

//===----------------------------------------------------------------------===//
// Finding the program
//===----------------------------------------------------------------------===//

dsrt::Status ProgramFile::load(const uint8_t *data, uint64_t size,
                               const std::string &origin) {
  // The FlatBuffer verifier reads at most this many bytes; a program never
  // comes near it, and anything after the program is not read anyway.
  size = std::min<uint64_t>(size, FLATBUFFERS_MAX_BUFFER_SIZE - 1);
  // Program::load wants 8-byte aligned memory (the verifier checks
  // alignment relative to the buffer's start).
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    aligned_.assign((size + 7) / 8, 0);
    std::memcpy(aligned_.data(), data, size);
    data = reinterpret_cast<const uint8_t *>(aligned_.data());
  }
  auto loaded = dsrt::Program::load(data, size, origin);
  if (!loaded)
    return dsrt::Status::error(loaded.error());
  program_ = loaded.take();
  size_ = size;
  return dsrt::Status::success();
}

dsrt::Expected<ProgramFile> ProgramFile::fromBytes(std::vector<uint8_t> bytes,
                                                   const std::string &origin) {
  ProgramFile file;
  file.path_ = origin;
  file.bytes_ = std::move(bytes);
  if (dsrt::Status s =
          file.load(file.bytes_.data(), file.bytes_.size(), origin);
      !s)
    return dsrt::Expected<ProgramFile>::error(s.error());
  return file;
}

namespace {

/// The bytes from `symbol` to the end of its section, or why there are
/// none. The section's contents are checked to lie inside `fileBytes`.
Expected<StringRef> bytesAtSymbol(const object::ObjectFile &object,
                                  const object::SymbolRef &symbol,
                                  StringRef fileBytes) {
  Expected<object::section_iterator> section = symbol.getSection();
  if (!section)
    return section.takeError();
  if (*section == object.section_end())
    return createStringError("it is not defined in a section");
  Expected<uint64_t> address = symbol.getAddress();
  if (!address)
    return address.takeError();
  Expected<StringRef> contents = (*section)->getContents();
  if (!contents)
    return contents.takeError();
  if (contents->begin() < fileBytes.begin() ||
      contents->end() > fileBytes.end())
    return createStringError("its section lies outside the file");
  uint64_t start = (*section)->getAddress();
  if (*address < start || *address - start > contents->size())
    return createStringError("it lies outside its section");
  return contents->drop_front(*address - start);
}

} // namespace

dsrt::Expected<ProgramFile> ProgramFile::open(const std::string &path) {
  using Result = dsrt::Expected<ProgramFile>;
  auto buffer = MemoryBuffer::getFile(path, /*IsText=*/false,
                                      /*RequiresNullTerminator=*/false);
  if (!buffer)
    return Result::error(path + ": " + buffer.getError().message());
  ProgramFile file;
  file.path_ = path;
  file.file_ = std::move(*buffer);
  StringRef bytes = file.file_->getBuffer();
  auto at = [&](StringRef part) {
    return reinterpret_cast<const uint8_t *>(part.data());
  };

  // A raw program: its FlatBuffer file identifier at byte 4.
  if (bytes.size() >= 8 && bytes.substr(4, 4) == "DSCP") {
    if (dsrt::Status s = file.load(at(bytes), bytes.size(), path); !s)
      return Result::error(s.error());
    return file;
  }

  // Otherwise an executable (or the host object) that embeds one.
  if (identify_magic(bytes) == file_magic::unknown)
    return Result::error(path +
                         ": not a dsc program: no \"DSCP\" FlatBuffer "
                         "identifier at byte 4, and not an executable or "
                         "object file");
  auto object =
      object::ObjectFile::createObjectFile(file.file_->getMemBufferRef());
  if (!object)
    return Result::error(path + ": not a readable executable or object file: " +
                         toString(object.takeError()));

  // 1. The symbols the compiler defines (Executable.cpp, emitHostObject):
  // the program's bytes and its size, a 64-bit integer.
  std::optional<object::SymbolRef> dataSymbol, sizeSymbol;
  for (const object::SymbolRef &symbol : (*object)->symbols()) {
    Expected<StringRef> name = symbol.getName();
    if (!name) {
      consumeError(name.takeError());
      continue;
    }
    StringRef plain = *name;
    plain.consume_front("_"); // Mach-O prefixes C symbols with '_'
    if (plain == "dsc_program_data")
      dataSymbol = symbol;
    else if (plain == "dsc_program_size")
      sizeSymbol = symbol;
  }
  if (dataSymbol || sizeSymbol) {
    if (!dataSymbol || !sizeSymbol)
      return Result::error(path + ": defines only one of dsc_program_data "
                                  "and dsc_program_size");
    Expected<StringRef> sizeBytes = bytesAtSymbol(**object, *sizeSymbol, bytes);
    if (!sizeBytes)
      return Result::error(
          path + ": dsc_program_size: " + toString(sizeBytes.takeError()));
    if (sizeBytes->size() < 8)
      return Result::error(path + ": dsc_program_size runs past the end of its "
                                  "section");
    uint64_t size = (*object)->isLittleEndian()
                        ? support::endian::read64le(sizeBytes->data())
                        : support::endian::read64be(sizeBytes->data());
    Expected<StringRef> data = bytesAtSymbol(**object, *dataSymbol, bytes);
    if (!data)
      return Result::error(path +
                           ": dsc_program_data: " + toString(data.takeError()));
    if (size > data->size())
      return Result::error(path + ": dsc_program_size (" +
                           std::to_string(size) +
                           " bytes) runs past the end of the section that "
                           "holds dsc_program_data (" +
                           std::to_string(data->size()) + " bytes from it)");
    file.location_ = ProgramLocation::Symbol;
    file.fileOffset_ = data->data() - bytes.data();
    if (dsrt::Status s =
            file.load(at(*data), size, path + " (dsc_program_data)");
        !s)
      return Result::error(s.error());
    return file;
  }

  // 2. No symbol table (a stripped executable): the first 8-byte aligned
  // position in a data section where a "DSCP" FlatBuffer verifies. The
  // bytes after it, up to the section's end, bound what the verifier reads.
  std::string firstRejection;
  size_t rejected = 0;
  for (const object::SectionRef &section : (*object)->sections()) {
    if (section.isText() || section.isBSS() || section.isVirtual())
      continue;
    Expected<StringRef> contents = section.getContents();
    if (!contents) {
      consumeError(contents.takeError());
      continue;
    }
    if (contents->begin() < bytes.begin() || contents->end() > bytes.end())
      continue;
    for (size_t hit = contents->find("DSCP"); hit != StringRef::npos;
         hit = contents->find("DSCP", hit + 1)) {
      if (hit < 4 || (hit - 4) % 8 != 0)
        continue;
      StringRef candidate = contents->drop_front(hit - 4);
      uint64_t offset = candidate.data() - bytes.data();
      dsrt::Status s =
          file.load(at(candidate), candidate.size(),
                    path + " (file offset " + std::to_string(offset) + ")");
      if (s) {
        file.location_ = ProgramLocation::Identifier;
        file.fileOffset_ = offset;
        return file;
      }
      if (rejected++ == 0)
        firstRejection = s.error();
    }
  }
  std::string message =
      path + ": no dsc program in this file: it has no dsc_program_data "
             "symbol, and no \"DSCP\" FlatBuffer in its sections verifies";
  if (rejected)
    message += " (" + std::to_string(rejected) + " candidate(s) rejected; " +
               firstRejection + ")";
  return Result::error(message);
}

//===----------------------------------------------------------------------===//
// Names and small formatters
//===----------------------------------------------------------------------===//

namespace {

const char *dtypeName(fb::DType dtype) {
  switch (dtype) {
  case fb::DType::BF16:
    return "bf16";
  case fb::DType::F32:
    return "f32";
  case fb::DType::F8_E4M3:
    return "f8e4m3";
  case fb::DType::I32:
    return "i32";
  }
  return "?";
}

const char *parallelName(fb::ParallelDim parallel) {
  switch (parallel) {
  case fb::ParallelDim::Tokens:
    return "tokens";
  case fb::ParallelDim::Static:
    return "static";
  case fb::ParallelDim::TokensTimesStatic:
    return "tokens_x_static";
  }
  return "?";
}

const char *rowsName(fb::RowCount rows) {
  return rows == fb::RowCount::Outputs ? "outputs" : "tokens";
}

const char *argKindName(fb::ArgKind kind) {
  switch (kind) {
  case fb::ArgKind::Arena:
    return "arena";
  case fb::ArgKind::Weight:
    return "weight";
  case fb::ArgKind::WeightScales:
    return "scales";
  case fb::ArgKind::Cache:
    return "cache";
  case fb::ArgKind::Tokens:
    return "tokens";
  case fb::ArgKind::Positions:
    return "positions";
  case fb::ArgKind::Slots:
    return "slots";
  case fb::ArgKind::Rows:
    return "rows";
  case fb::ArgKind::Sampling:
    return "sampling";
  case fb::ArgKind::PageTable:
    return "page_table";
  }
  return "?";
}

/// Whether an argument of this kind carries a value (offset or index).
bool hasValue(fb::ArgKind kind) {
  return kind == fb::ArgKind::Arena || kind == fb::ArgKind::Weight ||
         kind == fb::ArgKind::WeightScales || kind == fb::ArgKind::Cache;
}

/// `arena+4096`, `weight[3]`, `scales[3]`, `cache+768`, `tokens`, ...
std::string argText(const fb::Arg &arg) {
  std::string value = std::to_string(arg.value());
  switch (arg.kind()) {
  case fb::ArgKind::Arena:
  case fb::ArgKind::Cache:
    return std::string(argKindName(arg.kind())) + "+" + value;
  case fb::ArgKind::Weight:
  case fb::ArgKind::WeightScales:
    return std::string(argKindName(arg.kind())) + "[" + value + "]";
  default:
    return argKindName(arg.kind());
  }
}

/// A string field; `absent` when missing or empty.
/// A launch's block and grid: "128" for a 1-D block, "XxYxZ" otherwise;
/// "per-index" for a grid that follows the work, and its clusters' blocks
/// where it runs as clusters.
std::string dim3Text(const uint32_t d[3], bool always3) {
  if (!always3 && d[1] == 1 && d[2] == 1)
    return std::to_string(d[0]);
  return std::to_string(d[0]) + "x" + std::to_string(d[1]) + "x" +
         std::to_string(d[2]);
}
std::string blockText(const fb::Kernel &k) {
  return dim3Text(launchShapeOf(k).block, false);
}
std::string gridText(const fb::Kernel &k) {
  KernelLaunchShape shape = launchShapeOf(k);
  std::string grid = shape.fixedGrid ? dim3Text(shape.grid, true) : "per-index";
  if (shape.cluster > 1)
    grid += ", clusters of " + std::to_string(shape.cluster);
  return grid;
}

/// A cost or ceiling: the integer below 10^12 when it is one ("1048576"),
/// else six significant digits ("4.26e+12").
std::string number(double v) {
  if (v == std::trunc(v) && std::fabs(v) < 1e12)
    return std::to_string(static_cast<int64_t>(v));
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", v);
  return text;
}

/// The bytes and FLOPs of one launch of R rows attending to C positions
/// (program.fbs, KernelCost).
double costBytes(const fb::KernelCost &c, double rows, double context) {
  double experts = std::min(double(c.experts()), rows * c.experts_per_row());
  return c.bytes_fixed() + c.bytes_per_row() * rows +
         c.bytes_per_context() * context + c.bytes_per_expert() * experts;
}
double costFlops(const fb::KernelCost &c, double rows, double context) {
  return c.flops_per_row() * rows + c.flops_per_context() * context;
}

std::string str(const flatbuffers::String *s, const char *absent = "-") {
  return s && s->size() ? s->str() : absent;
}

json::Value jsonString(const flatbuffers::String *s) {
  return s ? json::Value(s->str()) : json::Value(nullptr);
}

/// 256x64; "-" for none.
std::string shapeText(const flatbuffers::Vector<int64_t> *shape) {
  if (!shape || shape->size() == 0)
    return "-";
  std::string text;
  for (int64_t d : *shape)
    text += (text.empty() ? "" : "x") + std::to_string(d);
  return text;
}

json::Array shapeJson(const flatbuffers::Vector<int64_t> *shape) {
  json::Array dims;
  if (shape)
    for (int64_t d : *shape)
      dims.push_back(d);
  return dims;
}

/// Rows of cells printed in columns two spaces apart; the last column is
/// not padded, so a long summary does not widen the others.
class Table {
public:
  explicit Table(std::vector<std::string> header) {
    rows_.push_back(std::move(header));
  }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(raw_ostream &os, unsigned indent) const {
    std::vector<size_t> widths;
    for (const auto &row : rows_)
      for (size_t i = 0; i + 1 < row.size(); ++i) {
        widths.resize(std::max(widths.size(), i + 1));
        widths[i] = std::max(widths[i], row[i].size());
      }
    for (const auto &row : rows_) {
      std::string line(indent, ' ');
      for (size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size())
          line.append(widths[i] - row[i].size() + 2, ' ');
      }
      os << StringRef(line).rtrim() << "\n";
    }
  }

private:
  std::vector<std::vector<std::string>> rows_;
};

/// One layout written at one arena offset by an entry's launches.
struct Buffer {
  uint64_t offset = 0;
  fb::DType dtype = fb::DType::BF16;
  int64_t rowElements = 0;
  /// Bytes for max_tokens rows: the most any launch writes there.
  uint64_t maxBytes = 0;
  /// Writing kernels in order of first write, with their launch indices.
  std::vector<std::pair<uint32_t, std::vector<size_t>>> writers;
};

/// The arena buffers `entry` writes, by offset, from the kernels' outputs.
/// Program::load checked every output's argument index and that it is an
/// arena offset with max_tokens rows inside the arena.
std::vector<Buffer> entryBuffers(const fb::Program &p, const fb::Entry &entry) {
  std::map<std::tuple<uint64_t, int, int64_t>, Buffer> buffers;
  for (size_t i = 0; i < entry.launches()->size(); ++i) {
    const fb::Launch *launch = entry.launches()->Get(i);
    const fb::Kernel *kernel = p.kernels()->Get(launch->kernel());
    if (!kernel->outputs())
      continue;
    for (const fb::KernelOutput *out : *kernel->outputs()) {
      uint64_t offset = launch->args()->Get(out->arg())->value();
      Buffer &b = buffers[{offset, static_cast<int>(out->dtype()),
                           out->row_elements()}];
      b.offset = offset;
      b.dtype = out->dtype();
      b.rowElements = out->row_elements();
      b.maxBytes = uint64_t(entry.max_tokens()) * uint64_t(b.rowElements) *
                   dsrt::dtypeBytes(b.dtype);
      auto writer =
          std::find_if(b.writers.begin(), b.writers.end(), [&](const auto &w) {
            return w.first == launch->kernel();
          });
      if (writer == b.writers.end())
        b.writers.push_back({launch->kernel(), {i}});
      else if (writer->second.back() != i)
        writer->second.push_back(i);
    }
  }
  // By offset, then in the order the launches first write them.
  std::vector<Buffer> sorted;
  for (auto &entry : buffers)
    sorted.push_back(std::move(entry.second));
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Buffer &a, const Buffer &b) {
                     return std::make_pair(a.offset, a.writers[0].second[0]) <
                            std::make_pair(b.offset, b.writers[0].second[0]);
                   });
  return sorted;
}

/// "[3]", "[3, 7, 11]", "[3, 7, ..., 243] (61 launches)" past six.
std::string launchList(const std::vector<size_t> &launches) {
  std::string text = "[";
  if (launches.size() <= 6) {
    for (size_t i = 0; i < launches.size(); ++i)
      text += (i ? ", " : "") + std::to_string(launches[i]);
    return text + "]";
  }
  return text + std::to_string(launches[0]) + ", " +
         std::to_string(launches[1]) + ", ..., " +
         std::to_string(launches.back()) + "] (" +
         std::to_string(launches.size()) + " launches)";
}

std::string locationText(const ProgramFile &file) {
  switch (file.location()) {
  case ProgramLocation::File:
    return "the whole file, " + std::to_string(file.size()) + " bytes";
  case ProgramLocation::Symbol:
    return "symbol dsc_program_data at file offset " +
           std::to_string(file.fileOffset()) + ", " +
           std::to_string(file.size()) + " bytes";
  case ProgramLocation::Identifier:
    return "no symbols; the \"DSCP\" FlatBuffer at file offset " +
           std::to_string(file.fileOffset());
  }
  return "?";
}

const char *locationName(ProgramLocation location) {
  switch (location) {
  case ProgramLocation::File:
    return "file";
  case ProgramLocation::Symbol:
    return "symbol";
  case ProgramLocation::Identifier:
    return "identifier";
  }
  return "?";
}

} // namespace

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

/// The scales column of a weight: where its scales come from (the
/// checkpoint's tensor, or quantizing the bf16 tensor at load), their shape
/// and the blocks each covers when the program records them.
static std::string scalesText(const fb::Weight &w) {
  if (w.dtype() != fb::DType::F8_E4M3)
    return "-";
  std::string text = (w.quantized_at_load() ? std::string("quantized at load")
                                            : str(w.scale_tensor())) +
                     " " + shapeText(w.scale_shape());
  if (w.scale_block_rows() > 0)
    text += " in " + std::to_string(w.scale_block_rows()) + "x" +
            std::to_string(w.scale_block_cols()) + " blocks";
  return text;
}

void printProgramText(const ProgramFile &file, raw_ostream &os) {
  const fb::Program &p = file.program().fb();
  const fb::ModelInfo &m = *p.model();
  const fb::CacheInfo &c = *p.cache();
  auto row = [&](StringRef key) -> raw_ostream & {
    return os << left_justify(key, 13);
  };
  row("program") << file.path() << " (" << locationText(file) << ")\n";
  row("target") << p.target()->str() << "\n";
  row("schema") << p.schema_version() << "\n";
  row("dsc version") << str(p.dsc_version()) << "\n";
  row("model") << str(m.family()) << ": " << m.num_layers()
               << " layers, hidden " << m.hidden_size() << ", vocab "
               << m.vocab_size() << ", max positions "
               << m.max_position_embeddings() << ", bos " << m.bos_token_id()
               << ", eos " << m.eos_token_id() << "\n";
  row("chat") << str(p.chat_template()) << "\n";
  row("tokenizer") << (p.tokenizer() && p.tokenizer()->size()
                           ? std::to_string(p.tokenizer()->size()) + " bytes"
                           : std::string("none"))
                   << "\n";
  row("checkpoint") << str(p.checkpoint_dir(), "none") << "\n";
  row("cache") << c.layers() << " layers x " << c.slots() << " slots x "
               << c.max_seq() << " positions x (" << c.latent() << " latent + "
               << c.rope() << " rope) bf16 in pages of " << c.page_size()
               << " positions, " << file.program().cacheBytes() << " bytes\n";
  row("arena") << p.arena_bytes() << " bytes\n";
  row("gpu image");
  if (p.gpu_image() && p.gpu_image()->size())
    os << str(p.gpu_image_format()) << " for " << str(p.gpu_chip()) << ", "
       << p.gpu_image()->size() << " bytes\n";
  else
    os << "none\n";
  row("device");
  if (const fb::DeviceCeilings *d = p.device())
    os << str(d->name()) << ": " << number(d->memory_bytes_per_second())
       << " bytes/s, bf16 " << number(d->bf16_flops_per_second())
       << " FLOP/s, fp8 " << number(d->fp8_flops_per_second()) << " FLOP/s, L2 "
       << d->l2_bytes() << " bytes\n";
  else
    os << "none\n";

  os << "\nweights (" << p.weights()->size() << ")\n";
  Table weights(
      {"#", "symbol", "tensor", "dtype", "shape", "experts", "scales"});
  for (uint32_t i = 0; i < p.weights()->size(); ++i) {
    const fb::Weight *w = p.weights()->Get(i);
    weights.add({std::to_string(i), w->symbol()->str(), w->tensor()->str(),
                 dtypeName(w->dtype()), shapeText(w->shape()),
                 w->experts() ? std::to_string(w->experts()) : "-",
                 scalesText(*w)});
  }
  weights.print(os, 2);

  os << "\nkernels (" << p.kernels()->size() << ")\n";
  Table kernels({"#", "name", "parallel", "extent", "rows", "block", "grid",
                 "smem", "cache", "outputs", "variants", "host twin",
                 "summary"});
  for (uint32_t i = 0; i < p.kernels()->size(); ++i) {
    const fb::Kernel *k = p.kernels()->Get(i);
    std::string outputs;
    if (k->outputs())
      for (const fb::KernelOutput *o : *k->outputs())
        outputs += (outputs.empty() ? "" : ", ") +
                   ("arg" + Twine(o->arg())).str() + ":" +
                   dtypeName(o->dtype()) + "[" +
                   std::to_string(o->row_elements()) + "]";
    std::string twin = "-";
    if (p.host_twins()) {
      const fb::Kernel *t = p.host_twins()->Get(i);
      twin = std::string(parallelName(t->parallel())) + " " +
             std::to_string(t->extent());
    }
    // "<=R: #K": a launch of at most R rows runs kernel K instead.
    std::string variants;
    if (k->variants())
      for (const fb::KernelVariant *v : *k->variants())
        variants +=
            (variants.empty() ? "" : ", ") +
            ("<=" + Twine(v->rows()) + ": #" + Twine(v->kernel())).str();
    kernels.add(
        {std::to_string(i), k->name()->str(), parallelName(k->parallel()),
         std::to_string(k->extent()), rowsName(k->rows()), blockText(*k),
         gridText(*k), std::to_string(launchShapeOf(*k).sharedBytes),
         k->writes_cache() ? "writes" : "-", outputs.empty() ? "-" : outputs,
         variants.empty() ? "-" : variants, twin, str(k->summary())});
  }
  kernels.print(os, 2);

  // One launch of one row attending to one position: the weights (all of
  // them for expert kernels, up to experts_per_row) and that row's traffic.
  os << "\nkernel costs (one launch, R = 1 row, C = 1 position; "
        "program.fbs KernelCost)\n";
  Table costs({"#", "name", "bytes", "flops", "fp8"});
  for (uint32_t i = 0; i < p.kernels()->size(); ++i) {
    const fb::Kernel *k = p.kernels()->Get(i);
    const fb::KernelCost *c = k->cost();
    costs.add({std::to_string(i), k->name()->str(),
               c ? number(costBytes(*c, 1, 1)) : "-",
               c ? number(costFlops(*c, 1, 1)) : "-",
               c && c->fp8() ? "fp8" : "-"});
  }
  costs.print(os, 2);

  for (const fb::Entry *e : *p.entries()) {
    os << "\nentry " << e->name()->str() << ": max_tokens " << e->max_tokens()
       << ", logits arena+" << e->logits_offset() << ", sampled arena+"
       << e->sampled_offset() << ", " << e->launches()->size() << " launches\n";
    Table launches({"#", "launch"});
    for (size_t i = 0; i < e->launches()->size(); ++i) {
      const fb::Launch *l = e->launches()->Get(i);
      std::string call = p.kernels()->Get(l->kernel())->name()->str() + "(";
      for (size_t a = 0; a < l->args()->size(); ++a)
        call += (a ? ", " : "") + argText(*l->args()->Get(a));
      call += ")";
      if (l->stream() != 0)
        call += " stream " + std::to_string(l->stream());
      if (l->waits()) {
        std::vector<size_t> waits(l->waits()->begin(), l->waits()->end());
        call += " waits " + launchList(waits);
      }
      launches.add({std::to_string(i), call});
    }
    launches.print(os, 2);

    os << "\nbuffers of " << e->name()->str()
       << " (arena offsets its launches write)\n";
    Table buffers({"offset", "dtype", "row", "max bytes", "written by"});
    for (const Buffer &b : entryBuffers(p, *e)) {
      std::string offset = "arena+" + std::to_string(b.offset);
      if (b.offset == e->logits_offset() && b.dtype == fb::DType::F32 &&
          b.rowElements == m.vocab_size())
        offset += " (logits)";
      if (b.offset == e->sampled_offset() && b.dtype == fb::DType::I32 &&
          b.rowElements == 1)
        offset += " (sampled)";
      std::string writers;
      for (const auto &[kernel, indices] : b.writers)
        writers += (writers.empty() ? "" : ", ") +
                   p.kernels()->Get(kernel)->name()->str() + " " +
                   launchList(indices);
      buffers.add({offset, dtypeName(b.dtype), std::to_string(b.rowElements),
                   std::to_string(b.maxBytes), writers});
    }
    buffers.print(os, 2);
  }
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

namespace {

json::Object kernelJson(const fb::Kernel &k) {
  json::Value cost = nullptr;
  if (const fb::KernelCost *c = k.cost())
    cost = json::Object{{"bytes_fixed", c->bytes_fixed()},
                        {"bytes_per_row", c->bytes_per_row()},
                        {"bytes_per_context", c->bytes_per_context()},
                        {"bytes_per_expert", c->bytes_per_expert()},
                        {"experts", c->experts()},
                        {"experts_per_row", c->experts_per_row()},
                        {"flops_per_row", c->flops_per_row()},
                        {"flops_per_context", c->flops_per_context()},
                        {"fp8", c->fp8()}};
  json::Array outputs;
  if (k.outputs())
    for (const fb::KernelOutput *o : *k.outputs())
      outputs.push_back(json::Object{{"arg", int64_t(o->arg())},
                                     {"dtype", dtypeName(o->dtype())},
                                     {"row_elements", o->row_elements()}});
  json::Array variants;
  if (k.variants())
    for (const fb::KernelVariant *v : *k.variants())
      variants.push_back(
          json::Object{{"rows", v->rows()}, {"kernel", int64_t(v->kernel())}});
  return json::Object{
      {"name", k.name()->str()},
      {"summary", jsonString(k.summary())},
      {"parallel", parallelName(k.parallel())},
      {"extent", k.extent()},
      {"rows", rowsName(k.rows())},
      {"block", blockText(k)},
      {"grid", gridText(k)},
      {"cluster", int64_t(launchShapeOf(k).cluster)},
      {"dynamic_shared_bytes", int64_t(launchShapeOf(k).sharedBytes)},
      {"writes_cache", k.writes_cache()},
      {"outputs", std::move(outputs)},
      {"variants", std::move(variants)},
      {"cost", std::move(cost)}};
}

} // namespace

json::Value programToJson(const ProgramFile &file) {
  const fb::Program &p = file.program().fb();
  const fb::ModelInfo &m = *p.model();
  const fb::CacheInfo &c = *p.cache();

  json::Array weights;
  for (uint32_t i = 0; i < p.weights()->size(); ++i) {
    const fb::Weight *w = p.weights()->Get(i);
    weights.push_back(json::Object{
        {"index", int64_t(i)},
        {"symbol", w->symbol()->str()},
        {"tensor", w->tensor()->str()},
        {"dtype", dtypeName(w->dtype())},
        {"shape", shapeJson(w->shape())},
        {"experts", w->experts()},
        {"scale_tensor", jsonString(w->scale_tensor())},
        {"scale_shape", w->dtype() == fb::DType::F8_E4M3
                            ? json::Value(shapeJson(w->scale_shape()))
                            : json::Value(nullptr)},
        {"scale_block_rows", w->scale_block_rows()},
        {"scale_block_cols", w->scale_block_cols()},
        {"quantized_at_load", w->quantized_at_load()}});
  }

  json::Array kernels;
  for (uint32_t i = 0; i < p.kernels()->size(); ++i) {
    json::Object k = kernelJson(*p.kernels()->Get(i));
    k["index"] = int64_t(i);
    k["host_twin"] = p.host_twins()
                         ? json::Value(kernelJson(*p.host_twins()->Get(i)))
                         : json::Value(nullptr);
    kernels.push_back(std::move(k));
  }

  json::Array entries;
  for (const fb::Entry *e : *p.entries()) {
    json::Array launches;
    for (const fb::Launch *l : *e->launches()) {
      json::Array args;
      for (const fb::Arg *a : *l->args()) {
        json::Object arg{{"kind", argKindName(a->kind())}};
        if (hasValue(a->kind()))
          arg["value"] = a->value();
        args.push_back(std::move(arg));
      }
      launches.push_back(
          json::Object{{"kernel", int64_t(l->kernel())},
                       {"name", p.kernels()->Get(l->kernel())->name()->str()},
                       {"args", std::move(args)}});
    }
    json::Array buffers;
    for (const Buffer &b : entryBuffers(p, *e)) {
      json::Array writers;
      for (const auto &[kernel, indices] : b.writers) {
        json::Array list;
        for (size_t i : indices)
          list.push_back(int64_t(i));
        writers.push_back(
            json::Object{{"kernel", int64_t(kernel)},
                         {"name", p.kernels()->Get(kernel)->name()->str()},
                         {"launches", std::move(list)}});
      }
      buffers.push_back(json::Object{{"offset", b.offset},
                                     {"dtype", dtypeName(b.dtype)},
                                     {"row_elements", b.rowElements},
                                     {"max_bytes", b.maxBytes},
                                     {"writers", std::move(writers)}});
    }
    entries.push_back(json::Object{{"name", e->name()->str()},
                                   {"max_tokens", e->max_tokens()},
                                   {"logits_offset", e->logits_offset()},
                                   {"sampled_offset", e->sampled_offset()},
                                   {"launches", std::move(launches)},
                                   {"buffers", std::move(buffers)}});
  }

  json::Value gpuImage = nullptr;
  if (p.gpu_image() && p.gpu_image()->size())
    gpuImage = json::Object{{"format", jsonString(p.gpu_image_format())},
                            {"chip", jsonString(p.gpu_chip())},
                            {"bytes", int64_t(p.gpu_image()->size())}};

  json::Value device = nullptr;
  if (const fb::DeviceCeilings *d = p.device())
    device =
        json::Object{{"name", jsonString(d->name())},
                     {"memory_bytes_per_second", d->memory_bytes_per_second()},
                     {"bf16_flops_per_second", d->bf16_flops_per_second()},
                     {"fp8_flops_per_second", d->fp8_flops_per_second()},
                     {"l2_bytes", d->l2_bytes()}};

  return json::Object{
      {"file", file.path()},
      {"location", locationName(file.location())},
      {"file_offset", file.fileOffset()},
      {"bytes", file.location() == ProgramLocation::Identifier
                    ? json::Value(nullptr)
                    : json::Value(file.size())},
      {"schema_version", int64_t(p.schema_version())},
      {"target", p.target()->str()},
      {"dsc_version", jsonString(p.dsc_version())},
      {"model",
       json::Object{{"family", jsonString(m.family())},
                    {"vocab_size", m.vocab_size()},
                    {"hidden_size", m.hidden_size()},
                    {"num_layers", m.num_layers()},
                    {"bos_token_id", m.bos_token_id()},
                    {"eos_token_id", m.eos_token_id()},
                    {"max_position_embeddings", m.max_position_embeddings()}}},
      {"chat_template", jsonString(p.chat_template())},
      {"tokenizer_bytes", int64_t(p.tokenizer() ? p.tokenizer()->size() : 0)},
      {"checkpoint_dir", jsonString(p.checkpoint_dir())},
      {"cache", json::Object{{"layers", c.layers()},
                             {"latent", c.latent()},
                             {"rope", c.rope()},
                             {"slots", c.slots()},
                             {"max_seq", c.max_seq()},
                             {"page_size", c.page_size()},
                             {"bytes", file.program().cacheBytes()}}},
      {"arena_bytes", p.arena_bytes()},
      {"gpu_image", std::move(gpuImage)},
      {"device", std::move(device)},
      {"weights", std::move(weights)},
      {"kernels", std::move(kernels)},
      {"entries", std::move(entries)}};
}

} // namespace dsc
