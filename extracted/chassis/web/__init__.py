"""The chassis's HTTP edge: what makes a service answer like the monolith, and the unit of work
its endpoints write in."""
