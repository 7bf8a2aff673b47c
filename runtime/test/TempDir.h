//===- TempDir.h - scratch folders for tests --------------------*- C++ -*-===//
//
// TempDir creates a fresh folder under $TMPDIR (or /tmp) and removes it with
// everything in it when destroyed, so a test can write files without leaving
// anything behind. writeFile() puts bytes into a file of it.
//
//===----------------------------------------------------------------------===//

#ifndef DSRT_TEST_TEMPDIR_H
#define DSRT_TEST_TEMPDIR_H

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace dsrt::test {

class TempDir {
public:
  TempDir() {
    const char *base = std::getenv("TMPDIR");
    std::string pattern =
        std::string(base && *base ? base : "/tmp") + "/dsrt-test-XXXXXX";
    if (::mkdtemp(pattern.data()))
      path_ = pattern;
    EXPECT_FALSE(path_.empty()) << "mkdtemp failed for " << pattern;
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty())
      std::filesystem::remove_all(path_, ignored);
  }

  const std::string &path() const { return path_; }
  std::string file(std::string_view name) const {
    return path_ + "/" + std::string(name);
  }

  /// Writes `bytes` to the file `name` of this folder and returns its path.
  std::string writeFile(std::string_view name,
                        const std::vector<uint8_t> &bytes) const {
    std::string filePath = file(name);
    std::ofstream out(filePath, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << "cannot write " << filePath;
    return filePath;
  }
  std::string writeFile(std::string_view name, std::string_view text) const {
    return writeFile(name, std::vector<uint8_t>(text.begin(), text.end()));
  }

private:
  std::string path_;
};

} // namespace dsrt::test

#endif // DSRT_TEST_TEMPDIR_H
