#include <cstdio>
#include "streams/placeholder.h"
int main() { std::printf("ustreams %s\n", std::string(ustreams::Version()).c_str()); }
