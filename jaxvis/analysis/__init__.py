"""Dataset-centric analyses (Zeiler & Fergus 2013; SPEC.md section 3): top-9
images per unit with their deconvolutions, and the sources they stream."""
