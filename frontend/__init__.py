"""kiln frontend: what users write (layers, models, graph API). Built in a later issue."""
