/* Empty translation unit: Switchyard's stand-in for a static library that Debian provides as a shared one. */
