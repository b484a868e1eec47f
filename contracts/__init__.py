"""Wire formats shared by components: pydantic only, no ORM, no domain logic, no clients.

Every component translates these messages into its own objects at its edge.
"""
