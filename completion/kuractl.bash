# bash completion for kuractl(8).
# Installed as $PREFIX/share/bash-completion/completions/kuractl; to try it
# by hand: . completion/kuractl.bash
#
# Commands and options come from `kuractl --help` and `kuractl CMD --help`,
# so new commands complete without changing this file, and a user is
# offered only the commands their role lets them run. Dataset ids come from
# the state directory when it is readable (root), else from `kuractl
# status` (the caller's own datasets); user names from getent.

# The config file the command line names: -c FILE, else $KURA_CONFIG,
# else the default.
_kuractl_config() {
    local i
    for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
        case ${COMP_WORDS[i]} in
            -c) printf '%s\n' "${COMP_WORDS[i + 1]}"; return ;;
            -c?*) printf '%s\n' "${COMP_WORDS[i]#-c}"; return ;;
        esac
    done
    printf '%s\n' "${KURA_CONFIG:-/etc/kura/kura.conf}"
}

# The datasets directory named by the config ([paths] state_dir, or
# root/lib, or the default).
_kuractl_datasets_dir() {
    local conf=$1
    [ -r "$conf" ] || { printf '%s\n' /var/lib/kura/datasets; return; }
    awk -F'[ \t]*=[ \t]*' '
        /^\[/ { sec = $0; next }
        sec == "[paths]" && $1 == "root" { root = $2 }
        sec == "[paths]" && $1 == "state_dir" { state = $2 }
        END {
            if (state == "") state = (root != "" ? root "/lib" : "/var/lib/kura")
            else if (substr(state, 1, 1) != "/" && root != "") state = root "/" state
            print state "/datasets"
        }' "$conf" 2>/dev/null
}

_kuractl_dataset_ids() {
    local kuractl=$1 conf dir
    conf=$(_kuractl_config)
    dir=$(_kuractl_datasets_dir "$conf")
    if [ -r "$dir" ] && [ -x "$dir" ]; then
        (cd "$dir" 2>/dev/null && for d in *; do [ -d "$d" ] && printf '%s\n' "$d"; done)
        return
    fi
    # The caller's own datasets: the first column of status's first table.
    timeout 3 "$kuractl" -c "$conf" status 2>/dev/null |
        awk 'NR == 1 { next } /^$/ { exit } $1 ~ /^[A-Za-z0-9][A-Za-z0-9._-]*$/ { print $1 }'
}

_kuractl_users() {
    local min
    min=$(awk '$1 == "UID_MIN" { print $2 }' /etc/login.defs 2>/dev/null)
    getent passwd 2>/dev/null | awk -F: -v min="${min:-1000}" '$3 >= min && $3 < 65534 { print $1 }'
}

# "init", "dataset add", ...: one command per line, from kuractl --help.
_kuractl_commands() {
    "$1" --help 2>/dev/null | awk '
        $1 == "kuractl" {
            cmd = ""
            for (i = 2; i <= NF && $i ~ /^[a-z][a-z-]*$/; i++) cmd = cmd (cmd == "" ? "" : " ") $i
            if (cmd != "") print cmd
        }'
}

# The usage line of one command (its words after "kuractl CMD").
_kuractl_usage() {
    local kuractl=$1; shift
    "$kuractl" "$@" --help 2>/dev/null | awk -v n=$# '
        $1 == "kuractl" && !done {
            line = ""
            for (i = 2 + n; i <= NF; i++) line = line " " $i
            # a usage that goes on over an indented line
            while ((getline next_line) > 0 && next_line ~ /^        +[^ ]/) line = line " " next_line
            print line; done = 1
        }'
}

# _kuractl_add COMPGEN_ARGS...: appends compgen's words (one a line) to COMPREPLY.
_kuractl_add() {
    local line
    while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen "$@")
}

_kuractl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
    local kuractl=${COMP_WORDS[0]} i words=()
    COMPREPLY=()

    # Global options and their values come before the command.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -c | --passphrase-file) ((i++)) ;;
            -c?*) ;;
            *) break ;;
        esac
    done
    local first=$i
    case $prev in
        -c | --passphrase-file)
            if [ "$COMP_CWORD" -le "$first" ]; then
                compopt -o filenames 2>/dev/null; _kuractl_add -f -- "$cur"; return
            fi ;;
    esac

    local commands
    commands=$(_kuractl_commands "$kuractl")
    for ((i = first; i < COMP_CWORD; i++)); do words+=("${COMP_WORDS[i]}"); done

    # The command: one word, or a group and a subcommand.
    local cmd="" n=0
    if [ ${#words[@]} -ge 2 ] && grep -qxF -- "${words[0]} ${words[1]}" <<<"$commands"; then
        cmd="${words[0]} ${words[1]}"; n=2
    elif [ ${#words[@]} -ge 1 ] && grep -qxF -- "${words[0]}" <<<"$commands"; then
        cmd=${words[0]}; n=1
    fi

    if [ ${#words[@]} -eq 0 ]; then
        if [[ $cur == -* ]]; then
            _kuractl_add -W "-c --passphrase-file --help --version" -- "$cur"
        else
            _kuractl_add -W "$(awk '{ print $1 }' <<<"$commands" | sort -u)" -- "$cur"
        fi
        return
    fi
    # A group word, or a one-word command that is also a group (audit verify).
    if [ ${#words[@]} -eq 1 ] && [[ $cur != -* ]]; then
        local subs
        subs=$(awk -v g="${words[0]}" '$1 == g && NF == 2 { print $2 }' <<<"$commands")
        if [ -n "$subs" ] && [ -z "$cmd" ]; then
            _kuractl_add -W "$subs" -- "$cur"; return
        fi
        if [ -n "$subs" ]; then
            _kuractl_add -W "$subs" -- "$cur"
        fi
    fi
    [ -n "$cmd" ] || return

    # Options and positional arguments from the command's usage line.
    local usage
    # shellcheck disable=SC2086
    usage=$(_kuractl_usage "$kuractl" $cmd)
    local -a tok positional=() valued=() flags=()
    read -r -a tok <<<"$usage"
    local depth=0 t bare brackets opt=""
    for t in "${tok[@]}"; do
        bare=${t//[\[\]]/}
        brackets=${t//[^\[]/}; depth=$((depth + ${#brackets}))
        if [ -n "$opt" ] && [[ -n $bare && $bare != -* ]]; then
            valued+=("$opt"); opt=""      # this word is the option's value
        else
            [ -n "$opt" ] && flags+=("$opt")
            opt=""
            if [[ $bare == --* && $t == *"]" ]]; then
                flags+=("${bare%%|*}")        # [--json]: no value
            elif [[ $bare == --* ]]; then
                opt=${bare%%|*}
            elif [ "$depth" -eq 0 ] && [[ $bare =~ ^[A-Z] ]]; then
                positional+=("$bare")
            fi
        fi
        brackets=${t//[^\]]/}; depth=$((depth - ${#brackets}))
    done
    [ -n "$opt" ] && flags+=("$opt")

    # The value of an option.
    local v
    for v in "${valued[@]}"; do
        [ "$prev" = "$v" ] || continue
        case $v in
            --pi | --user) _kuractl_add -W "$(_kuractl_users)" -- "$cur" ;;
            --dataset) _kuractl_add -W "$(_kuractl_dataset_ids "$kuractl")" -- "$cur" ;;
            --kind) _kuractl_add -W "JGA AGD" -- "$cur" ;;
            --level) _kuractl_add -W "type1 type2" -- "$cur" ;;
            --guard) _kuractl_add -W "denylist allowlist" -- "$cur" ;;
            --role) _kuractl_add -W "co-investigator contractor" -- "$cur" ;;
            --lang) _kuractl_add -W "ja en" -- "$cur" ;;
            --root) compopt -o filenames 2>/dev/null; _kuractl_add -d -- "$cur" ;;
            --samples | --passphrase-file | --ruleset) compopt -o filenames 2>/dev/null; _kuractl_add -f -- "$cur" ;;
        esac
        return
    done
    if [[ $cur == -* ]]; then
        _kuractl_add -W "${valued[*]} ${flags[*]} --help" -- "$cur"
        return
    fi

    # Which positional argument is this? Count the words since the command,
    # not counting options and their values.
    local k=0 j skip=0
    for ((j = n; j < ${#words[@]}; j++)); do
        if [ "$skip" -eq 1 ]; then skip=0; continue; fi
        local w=${words[j]}
        if [[ $w == -* ]]; then
            for v in "${valued[@]}"; do [ "$w" = "$v" ] && skip=1; done
            continue
        fi
        k=$((k + 1))
    done
    local name=${positional[k]:-}
    [ -z "$name" ] && [ ${#positional[@]} -gt 0 ] && [[ ${positional[-1]} == *... ]] && name=${positional[-1]}
    case $name in
        ID) [ "$cmd" = "dataset add" ] || _kuractl_add -W "$(_kuractl_dataset_ids "$kuractl")" -- "$cur" ;;
        USER) _kuractl_add -W "$(_kuractl_users)" -- "$cur" ;;
        PATH* | FILE*) compopt -o filenames 2>/dev/null; _kuractl_add -f -- "$cur" ;;
    esac
}

complete -F _kuractl kuractl
