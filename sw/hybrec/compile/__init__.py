"""Compile: export -> FINN front-end -> kernel RTL + golden vectors, in a build directory with a manifest."""
