"""Language models: one client per provider behind one small interface, and the ensemble."""
