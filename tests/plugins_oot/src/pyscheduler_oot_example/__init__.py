"""An out-of-tree pyscheduler plugin (a test fixture): see node_label.py."""
