// The `gilstat` command-line tool; all of its logic is in daemon/cli/ (gilstat_cli).
#include "cli/locks_command.h"

int main(int argc, char** argv) { return gilstat::cli::Main(argc, argv); }
