//===- ChatFormat.cpp - the chat formats of the DeepSeek models -----------===//
//
// formatChat() writes a conversation in the model's chat format; see
// ChatFormat.h.
//
//===----------------------------------------------------------------------===//

#include "cli/ChatFormat.h"

namespace dsrt::cli {

std::string formatChat(const std::string &style, const std::string &bos,
                       const std::string &eos, const std::string &system,
                       const std::vector<Turn> &history,
                       const std::string &user) {
  std::string out = bos;
  if (style == "deepseek-v2") {
    if (!system.empty())
      out += system + "\n\n";
    for (const Turn &t : history)
      out += "User: " + t.user + "\n\nAssistant: " + t.assistant + eos;
    return out + "User: " + user + "\n\nAssistant:";
  }
  bool r1 = style == "deepseek-r1";
  out += system;
  for (const Turn &t : history) {
    std::string answer = t.assistant;
    size_t think = answer.find("</think>");
    if (r1 && think != std::string::npos) // history keeps the answer only
      answer = answer.substr(think + 8);
    out += "<｜User｜>" + t.user + "<｜Assistant｜>" + answer +
           "<｜end▁of▁sentence｜>";
  }
  out += "<｜User｜>" + user + "<｜Assistant｜>";
  return r1 ? out + "<think>\n" : out;
}

} // namespace dsrt::cli
