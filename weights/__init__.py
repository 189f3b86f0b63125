"""Weight files shipped with vidstyle (see README.md beside this file)."""
