"""Pure-numpy hardware models: the ABP-MAC macro, device variation, calibration,
chip geometry. Never imports simpy."""
