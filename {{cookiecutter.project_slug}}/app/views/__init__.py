"""HTTP views, one blueprint per module; views validate input and enqueue."""
