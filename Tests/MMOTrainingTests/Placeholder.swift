// Tests for this layer land with its implementation.
