// Flame graphs of attributed GIL waits as one self-contained SVG (no external file, script or
// font): the waiting stacks on top, the holders' stacks (whom to blame) below; each frame's width
// is its share of the GIL wait; below them, when any threading lock was waited for, the stacks
// that waited for threading locks. A frame shows its name where it fits; hovering shows the full
// name, file:line, wait and share; a click zooms into a frame (its graph's top row resets).
#pragma once

#include <string>
#include <vector>

#include "gilstat/gil_stacks.h"

namespace gilstat::profile {

std::string FlameSvg(const std::vector<ProcessGilStacks>& procs);

}  // namespace gilstat::profile
