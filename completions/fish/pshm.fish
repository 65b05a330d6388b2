# fish completion for pshm (pkit): the binary answers via COMP_LINE.
function __complete_pshm
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    command pshm
end
complete -c pshm -a "(__complete_pshm)"
