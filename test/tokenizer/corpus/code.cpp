// C++ with tabs for indentation
#include <vector>

template <typename T> static T sum(const std::vector<T> &values) {
  T total{};
  for (const T &v : values)
    total += v; // accumulate
  return total;
}

int main(int argc, char **argv) {
  std::vector<int> v = {1, 2, 3, 40000, -5};
  if (argc > 1 && argv[1][0] == '-')
    return sum(v) >> 2;
  return (sum(v) != 0) ? 0 : 1;
}
