/* beam.c - placeholder, being written. */
typedef int cap_placeholder_beam;
