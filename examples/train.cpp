// Placeholder for the Fashion-MNIST training program (issue 5).
#include <cstdio>
int main() {
  std::puts("train: not implemented yet");
  return 0;
}
