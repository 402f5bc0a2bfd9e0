/* model.c - placeholder, being written. */
typedef int cap_placeholder_model;
