// DPComm
