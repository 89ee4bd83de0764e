"""What is observed: metric points, the run timeline, live messages, WebSocket consumers."""
