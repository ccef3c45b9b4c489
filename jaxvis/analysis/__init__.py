"""Dataset-centric analyses (Zeiler & Fergus 2013; docs/analyses.md): top-9
images per unit with their deconvolutions, and the sources they stream."""
