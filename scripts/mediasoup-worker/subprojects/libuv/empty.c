/* Empty translation unit: a static library that Debian provides as a shared one still needs a target with this name. */
