"""The controller: compiles a placement into fabric state (`program`), keeps the switches, their external memory and the server NFs at that state (`fabric`), and runs the periodic loop (`loop`)."""
