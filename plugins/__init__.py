"""The plugins that ship with bench, registered through the `bench` entry-point group like any other."""
