//===- PromptIdsFile.h - prompt token ids read from a file ------*- C++ -*-===//
//
// --prompt-ids-file F reads one prompt's token ids from F, or from stdin when
// F is "-": a 32K-token prompt does not fit in one command-line argument
// (Linux caps one at 128 KiB). The syntax is --prompt-ids': decimal ids
// separated by any whitespace, newlines included, so the whole file is one
// prompt. The file is untrusted: it is read in blocks, every id is checked
// against the vocabulary, and reading stops at the first id past the
// compiled context, so no file can make the reader allocate more than the
// prompt the executable could run.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_PROMPTIDSFILE_H
#define DSRT_SRC_CLI_PROMPTIDSFILE_H

#include <cstdint>
#include <string>
#include <vector>

namespace dsrt::cli {

/// The token ids in `path` ("-": stdin), each in [0, vocab), at most
/// `maxTokens` of them. Fails (exit 1) naming the file, the line and the
/// token's position in the prompt (from 1) on a token that is not such an
/// id, and on a file that cannot be read, holds no ids, or holds too many.
std::vector<int32_t> readPromptIdsFile(const std::string &path, int64_t vocab,
                                       int64_t maxTokens);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_PROMPTIDSFILE_H
