//===- ChatFormat.h - the chat formats of the DeepSeek models ---*- C++ -*-===//
//
// Text mode sends a conversation to the model as one prompt in the model's
// chat format (docs/model.md §7): DeepSeek-V2's "User: ... Assistant:"
// or the <｜User｜>/<｜Assistant｜> markers of V3 and R1, whose history
// keeps only the answer of each reasoning turn.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_SRC_CLI_CHATFORMAT_H
#define DSRT_SRC_CLI_CHATFORMAT_H

#include <string>
#include <vector>

namespace dsrt::cli {

/// One exchange of a conversation.
struct Turn {
  std::string user, assistant;
};

/// The model's chat format `style` ("deepseek-v2", "deepseek-v3",
/// "deepseek-r1"), with the generation prompt for `user` appended.
std::string formatChat(const std::string &style, const std::string &bos,
                       const std::string &eos, const std::string &system,
                       const std::vector<Turn> &history,
                       const std::string &user);

} // namespace dsrt::cli

#endif // DSRT_SRC_CLI_CHATFORMAT_H
