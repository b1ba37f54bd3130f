"""Defences around what goes into and comes out of the model: injected instructions in
documents and tool results, input checks, output filters."""
