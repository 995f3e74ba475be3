// Placeholder until this layer lands; see README.md for the layering.
