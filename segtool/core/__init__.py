"""Qt-free application core: devices, engine, sources, sinks, pipeline, overlay."""
