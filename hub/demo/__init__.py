"""The demo: departments, citizens and licenses loaded by `hub demo`, their data sources, and the demo department
systems `hub serve --demo-systems` runs (`make run`)."""
